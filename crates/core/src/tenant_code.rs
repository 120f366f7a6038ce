//! 全国地方公共団体コード, the 6-digit code of a 団体 (prefecture, city, ward, town or
//! village), which keys a tenant.
//!
//! The code is the 5-digit 団体コード (都道府県コード 2 digits + 市区町村コード 3 digits, JIS
//! X 0402) followed by a check digit:
//!
//! ```text
//! check = (11 − (d₁·6 + d₂·5 + d₃·4 + d₄·3 + d₅·2) mod 11) mod 10
//! ```
//!
//! e.g. 千代田区 13101: 1·6 + 3·5 + 1·4 + 0·3 + 1·2 = 27, 27 mod 11 = 5, 11 − 5 = 6 → 131016.
//!
//! # What the check digit catches
//!
//! Because the weights 6–2 are all non-zero modulo 11, changing any one of the first five digits
//! always changes the remainder. The final `mod 10` folds remainder 0 (11 − 0 = 11) and
//! remainder 10 (11 − 10 = 1) onto the same check digit 1, so a single-digit error that moves
//! the remainder between 0 and 10 goes unnoticed: 81,820 of the 4,500,000 possible single-digit
//! changes (about 1.8 %), and likewise about 1.8 % of adjacent transpositions. Every other
//! single-digit change, and every change of the check digit itself, is detected. The test
//! `single_digit_changes_are_detected_except_remainders_0_and_10` checks this exhaustively.
//! A code whose first two digits are not a prefecture (01–47) is rejected as well.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digits;
use crate::error::{CodeError, CodeKind, ShownInput};
pub use crate::prefecture::Prefecture;

const KIND: CodeKind = CodeKind::TenantCode;
const WEIGHTS: [u32; 5] = [6, 5, 4, 3, 2];

/// A valid 全国地方公共団体コード: six ASCII digits, a known prefecture, a matching check digit.
///
/// Codes of prefectures themselves (e.g. 130001 東京都) are valid: they name a prefecture-level
/// 団体. Ordering is numeric (= lexicographic on the digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantCode {
    digits: [u8; 6],
    // Determined by `digits`; kept so that `prefecture()` needs no fallible lookup.
    prefecture: Prefecture,
}

/// The check digit for a 5-digit 団体コード (`"13101"` → `6`).
///
/// Leading and trailing ASCII whitespace is ignored. The prefecture is not checked here; see
/// [`TenantCode::from_five_digits`] for that.
pub fn check_digit(five: &str) -> Result<u8, CodeError> {
    let five = digits::exactly::<5>(KIND, five, |_| {
        "give the 5-digit 団体コード (都道府県コード 2 digits + 市区町村コード 3 digits) \
         without a check digit"
            .to_owned()
    })?;
    Ok(check_for(&five))
}

fn remainder(five: &[u8; 5]) -> u32 {
    five.iter()
        .zip(WEIGHTS)
        .map(|(d, w)| digits::value(*d) * w)
        .sum::<u32>()
        % 11
}

fn check_from_remainder(r: u32) -> u8 {
    // r < 11, so the result is 0..=9 and fits in u8.
    ((11 - r) % 10) as u8
}

fn check_for(five: &[u8; 5]) -> u8 {
    check_from_remainder(remainder(five))
}

fn prefecture_of(digits: &[u8]) -> Option<Prefecture> {
    match digits {
        [tens, ones, ..] => {
            let code = digits::value(*tens) * 10 + digits::value(*ones);
            u8::try_from(code).ok().and_then(Prefecture::from_code)
        }
        _ => None,
    }
}

fn unknown_prefecture(input: &str) -> CodeError {
    CodeError::UnknownPrefecture {
        input: input.to_owned(),
        prefix: input.chars().take(2).collect(),
    }
}

impl TenantCode {
    /// Reads a 6-digit 全国地方公共団体コード, ignoring surrounding ASCII whitespace.
    ///
    /// Rejects anything but half-width digits, a wrong number of digits (for 5 digits the error
    /// says what the check digit would be, and what the code would be if a spreadsheet dropped
    /// a leading zero), a first two digits outside 01–47, and a wrong check digit (the error
    /// says the expected one).
    pub fn parse(input: &str) -> Result<TenantCode, CodeError> {
        let digits = digits::exactly::<6>(KIND, input, length_hint)?;
        let text = digits::as_str(&digits);
        let Some(prefecture) = prefecture_of(&digits) else {
            return Err(unknown_prefecture(text));
        };
        let [a, b, c, d, e, given] = digits;
        let expected = check_for(&[a, b, c, d, e]);
        let got = digits::value(given) as u8;
        if expected != got {
            return Err(CodeError::WrongCheckDigit {
                kind: KIND,
                input: ShownInput::new(KIND, text),
                expected,
                got,
            });
        }
        Ok(TenantCode { digits, prefecture })
    }

    /// Builds the code from the 5-digit 団体コード, computing the check digit
    /// (`"13101"` → `131016`).
    pub fn from_five_digits(five: &str) -> Result<TenantCode, CodeError> {
        let five = digits::exactly::<5>(KIND, five, |given| {
            if given.len() == 6 {
                "this looks like a complete 全国地方公共団体コード: read it with \
                 TenantCode::parse, or give only its first five digits"
                    .to_owned()
            } else {
                "give the 5-digit 団体コード (都道府県コード 2 digits + 市区町村コード 3 digits)"
                    .to_owned()
            }
        })?;
        let Some(prefecture) = prefecture_of(&five) else {
            return Err(unknown_prefecture(digits::as_str(&five)));
        };
        Ok(Self::complete(five, prefecture))
    }

    fn complete(five: [u8; 5], prefecture: Prefecture) -> TenantCode {
        let [a, b, c, d, e] = five;
        let check = digits::ascii(check_for(&five));
        TenantCode {
            digits: [a, b, c, d, e, check],
            prefecture,
        }
    }

    pub(crate) fn of_prefecture(prefecture: Prefecture) -> TenantCode {
        let code = prefecture.code();
        let five = [
            digits::ascii(code / 10),
            digits::ascii(code % 10),
            b'0',
            b'0',
            b'0',
        ];
        Self::complete(five, prefecture)
    }

    /// The six digits, e.g. `"131016"`.
    pub fn as_str(&self) -> &str {
        digits::as_str(&self.digits)
    }

    /// The first five digits (団体コード without check digit), as used by migration layouts
    /// whose 市町村コード field is 5 characters wide, e.g. `"13101"`.
    pub fn as_five_digits(&self) -> &str {
        digits::as_str(&self.digits[..5])
    }

    /// The prefecture named by the first two digits.
    pub fn prefecture(&self) -> Prefecture {
        self.prefecture
    }

    /// Whether this is the code of a prefecture itself (市区町村コード 000, e.g. 130001 東京都).
    pub fn is_prefecture_level(&self) -> bool {
        self.digits[2..5] == *b"000"
    }
}

fn length_hint(given: &str) -> String {
    let mut hints = Vec::new();
    if let Ok(five) = <[u8; 5]>::try_from(given.as_bytes()) {
        if let Some(prefecture) = prefecture_of(&five) {
            let completed = TenantCode::complete(five, prefecture);
            hints.push(format!(
                "add the check digit: it would be {}",
                completed.as_str()
            ));
        }
        let zero_padded = format!("0{given}");
        if let Ok(code) = TenantCode::parse(&zero_padded) {
            hints.push(format!(
                "if a leading zero was lost (e.g. by a spreadsheet), the code may be {}",
                code.as_str()
            ));
        }
    }
    if hints.is_empty() {
        format!(
            "a 全国地方公共団体コード is the 5-digit 団体コード followed by its check digit; {}",
            KIND.remedy()
        )
    } else {
        hints.join("; or, ")
    }
}

impl fmt::Display for TenantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TenantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantCode({})", self.as_str())
    }
}

impl FromStr for TenantCode {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantCode::parse(s)
    }
}

impl Serialize for TenantCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TenantCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_str::deserialize(deserializer, "a 6-digit 全国地方公共団体コード")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_str::capture::{Scalar, scalar};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    /// Real codes, from 総務省's list.
    const KNOWN: &[(&str, &str, Prefecture)] = &[
        ("010006", "北海道", Prefecture::Hokkaido),
        ("011002", "札幌市", Prefecture::Hokkaido),
        ("012025", "函館市", Prefecture::Hokkaido),
        ("012289", "深川市", Prefecture::Hokkaido),
        ("130001", "東京都", Prefecture::Tokyo),
        ("131016", "千代田区", Prefecture::Tokyo),
        ("131041", "新宿区", Prefecture::Tokyo),
        ("141003", "横浜市", Prefecture::Kanagawa),
        ("231002", "名古屋市", Prefecture::Aichi),
        ("261009", "京都市", Prefecture::Kyoto),
        ("271004", "大阪市", Prefecture::Osaka),
        ("362018", "徳島市", Prefecture::Tokushima),
        ("401307", "福岡市", Prefecture::Fukuoka),
        ("472018", "那覇市", Prefecture::Okinawa),
    ];

    #[test]
    fn known_codes_are_valid_and_computed_from_five_digits() {
        for (code, name, prefecture) in KNOWN {
            let parsed = TenantCode::parse(code).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.as_str(), *code, "{name}");
            assert_eq!(parsed.prefecture(), *prefecture, "{name}");
            let built = TenantCode::from_five_digits(&code[..5]).expect(name);
            assert_eq!(built, parsed, "{name}");
            assert_eq!(built.as_five_digits(), &code[..5]);
            assert_eq!(
                check_digit(&code[..5]),
                Ok(code.as_bytes()[5] - b'0'),
                "{name}"
            );
        }
    }

    #[test]
    fn check_digit_follows_the_formula() {
        // 1·6 + 3·5 + 1·4 + 0·3 + 1·2 = 27; 27 mod 11 = 5; 11 − 5 = 6.
        assert_eq!(check_digit("13101"), Ok(6));
        // 0·6 + 1·5 + 1·4 + 0·3 + 0·2 = 9; 11 − 9 = 2 (札幌市 011002).
        assert_eq!(check_digit("01100"), Ok(2));
        // Remainder 0: 11 mod 10 = 1.
        assert_eq!(check_digit("00000"), Ok(1));
        // Remainder 10 (5·2 = 10): 1, the same as remainder 0.
        assert_eq!(check_digit("00005"), Ok(1));
        // Remainder 1 (6·2 = 12): 10 mod 10 = 0.
        assert_eq!(check_digit("00006"), Ok(0));
        assert_eq!(check_digit(" 13101\t"), Ok(6));
    }

    #[test]
    fn check_digit_rejects_wrong_input() {
        assert!(matches!(
            check_digit("1310"),
            Err(CodeError::WrongLength {
                got: 4,
                expected: 5,
                ..
            })
        ));
        assert!(matches!(
            check_digit("1310x"),
            Err(CodeError::NotADigit {
                position: 5,
                found: 'x',
                ..
            })
        ));
        assert_eq!(check_digit(""), Err(CodeError::Empty { kind: KIND }));
    }

    #[test]
    fn wrong_check_digit_names_the_expected_one() {
        let err = TenantCode::parse("131017").expect_err("must be refused");
        assert_eq!(
            err,
            CodeError::WrongCheckDigit {
                kind: KIND,
                input: ShownInput::new(KIND, "131017"),
                expected: 6,
                got: 7,
            }
        );
        assert_eq!(
            err.to_string(),
            "tenant code (全国地方公共団体コード) 131017 has a wrong check digit: expected 6 \
             (got 7); check the code against 総務省's list of 全国地方公共団体コード"
        );
    }

    #[test]
    fn five_digits_get_a_hint_with_the_check_digit() {
        let err = TenantCode::parse("13101").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::WrongLength {
                got: 5,
                expected: 6,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "tenant code (全国地方公共団体コード) 13101 has 5 digits, but 6 are required; add \
             the check digit: it would be 131016"
        );
    }

    #[test]
    fn five_digits_that_lost_a_leading_zero_get_both_hints() {
        // 札幌市 011002 as a spreadsheet shows it.
        let message = TenantCode::parse("11002")
            .expect_err("must be refused")
            .to_string();
        assert!(message.contains("it would be 110027"), "{message}");
        assert!(message.contains("the code may be 011002"), "{message}");
        // 01100 cannot lose a zero into anything valid, and 99xxx is no prefecture.
        let message = TenantCode::parse("99100")
            .expect_err("must be refused")
            .to_string();
        assert!(!message.contains("would be"), "{message}");
        assert!(message.contains("総務省's list"), "{message}");
    }

    #[test]
    fn other_lengths_are_rejected() {
        for input in ["1", "1310", "1310160", "13101600000"] {
            let err = TenantCode::parse(input).expect_err("must be refused");
            assert!(
                matches!(err, CodeError::WrongLength { got, expected: 6, .. } if got == input.len()),
                "{input}: {err}"
            );
        }
    }

    #[test]
    fn whitespace_is_trimmed() {
        let code = TenantCode::parse("  131016\r\n").expect("trimmed");
        assert_eq!(code.as_str(), "131016");
    }

    #[test]
    fn non_digits_are_rejected_with_their_position() {
        let err = TenantCode::parse("13l016").expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "tenant code (全国地方公共団体コード) \"13l016\" contains 'l' at position 3, but \
             only half-width digits 0–9 are allowed; check the code against 総務省's list of \
             全国地方公共団体コード"
        );
        let err = TenantCode::parse("１３１０１６").expect_err("must be refused");
        assert!(
            matches!(
                err,
                CodeError::NotADigit {
                    position: 1,
                    found: '１',
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("全角数字"), "{err}");
        let err = TenantCode::parse("13-1016").expect_err("must be refused");
        assert!(
            err.to_string().contains("remove spaces and hyphens"),
            "{err}"
        );
        assert!(TenantCode::parse("+131016").is_err());
        assert!(TenantCode::parse("13101６").is_err());
    }

    #[test]
    fn empty_input_is_rejected() {
        for input in ["", "   ", "\n"] {
            let err = TenantCode::parse(input).expect_err("must be refused");
            assert_eq!(err, CodeError::Empty { kind: KIND });
            assert_eq!(
                err.to_string(),
                "tenant code (全国地方公共団体コード) is empty; enter the 6-digit code"
            );
        }
    }

    #[test]
    fn prefecture_must_be_01_to_47() {
        // Valid check digits, impossible prefectures.
        for five in ["00100", "48201", "99999"] {
            let check = check_digit(five).expect("digits");
            let code = format!("{five}{check}");
            let err = TenantCode::parse(&code).expect_err("must be refused");
            assert_eq!(
                err,
                CodeError::UnknownPrefecture {
                    input: code.clone(),
                    prefix: five[..2].to_owned(),
                },
            );
            assert!(err.to_string().contains("01 北海道 to 47 沖縄県"), "{err}");
            assert!(matches!(
                TenantCode::from_five_digits(five),
                Err(CodeError::UnknownPrefecture { .. })
            ));
        }
        assert!(TenantCode::from_five_digits("47000").is_ok());
        assert!(TenantCode::from_five_digits("01000").is_ok());
    }

    #[test]
    fn prefecture_level_codes_stay_valid() {
        let tokyo = TenantCode::parse("130001").expect("東京都");
        assert_eq!(tokyo.prefecture(), Prefecture::Tokyo);
        assert!(tokyo.is_prefecture_level());
        let chiyoda = TenantCode::parse("131016").expect("千代田区");
        assert!(!chiyoda.is_prefecture_level());
    }

    #[test]
    fn from_five_digits_rejects_a_six_digit_code_with_a_pointer_to_parse() {
        let err = TenantCode::from_five_digits("131016").expect_err("must be refused");
        assert!(err.to_string().contains("TenantCode::parse"), "{err}");
    }

    #[test]
    fn display_from_str_debug_and_order() {
        let code: TenantCode = "131016".parse().expect("valid");
        assert_eq!(code.to_string(), "131016");
        assert_eq!(format!("{code:?}"), "TenantCode(131016)");
        let mut codes: Vec<TenantCode> = ["472018", "011002", "131016", "010006"]
            .iter()
            .map(|s| TenantCode::parse(s).expect("valid"))
            .collect();
        codes.sort();
        let sorted: Vec<&str> = codes.iter().map(TenantCode::as_str).collect();
        assert_eq!(sorted, ["010006", "011002", "131016", "472018"]);
    }

    #[test]
    fn serde_is_a_validated_string() {
        let code = TenantCode::parse("131016").expect("valid");
        assert_eq!(scalar(&code), Ok(Scalar::Str("131016".to_owned())));
        let de: StrDeserializer<'_, DeError> = "131016".into_deserializer();
        assert_eq!(TenantCode::deserialize(de), Ok(code));
        let de: StrDeserializer<'_, DeError> = "131017".into_deserializer();
        let err = TenantCode::deserialize(de).expect_err("must be refused");
        assert!(err.to_string().contains("expected 6 (got 7)"), "{err}");
    }

    /// Every 5-digit base with a real prefecture: from_five_digits, then parse, round-trips.
    #[test]
    fn every_five_digit_base_round_trips() {
        let mut count = 0;
        for base in 0..100_000u32 {
            let five = format!("{base:05}");
            match TenantCode::from_five_digits(&five) {
                Ok(code) => {
                    count += 1;
                    assert_eq!(TenantCode::parse(code.as_str()), Ok(code));
                    assert_eq!(code.as_five_digits(), five);
                    assert_eq!(u32::from(code.prefecture().code()), base / 1000);
                }
                Err(CodeError::UnknownPrefecture { .. }) => {
                    let prefecture = base / 1000;
                    assert!(prefecture == 0 || prefecture > 47, "{five}");
                }
                Err(other) => panic!("{five}: {other}"),
            }
        }
        assert_eq!(count, 47_000);
    }

    /// A single-digit change in the first five digits changes the remainder mod 11 (weights
    /// 6–2 are units mod 11); it goes unnoticed exactly when it moves the remainder between
    /// 0 and 10, which both give check digit 1. Checked for all 4,500,000 changes.
    #[test]
    fn single_digit_changes_are_detected_except_remainders_0_and_10() {
        let mut undetected = 0u32;
        let mut total = 0u32;
        for base in 0..100_000u32 {
            let five: [u8; 5] = std::array::from_fn(|i| {
                digits::ascii(((base / 10u32.pow(4 - i as u32)) % 10) as u8)
            });
            let r = remainder(&five);
            for position in 0..5 {
                for digit in b'0'..=b'9' {
                    if digit == five[position] {
                        continue;
                    }
                    let mut changed = five;
                    changed[position] = digit;
                    let r2 = remainder(&changed);
                    assert_ne!(r, r2, "the remainder always changes");
                    total += 1;
                    let same_check = check_from_remainder(r) == check_from_remainder(r2);
                    let folded = matches!((r, r2), (0, 10) | (10, 0));
                    assert_eq!(same_check, folded, "{base:05} → {changed:?}");
                    undetected += u32::from(same_check);
                }
            }
        }
        assert_eq!(total, 4_500_000);
        assert_eq!(undetected, 81_820);
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in "\\PC{0,12}") {
            // Whatever it is given, it answers: a value that prints as
            // something it reads back, or an error that says what is wrong.
            match TenantCode::parse(&input) {
                Ok(v) => prop_assert_eq!(TenantCode::parse(&v.to_string()), Ok(v)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn valid_codes_round_trip(prefecture in 1u32..=47, rest in 0u32..1000) {
            let five = format!("{prefecture:02}{rest:03}");
            let code = TenantCode::from_five_digits(&five).expect("valid base");
            prop_assert_eq!(TenantCode::parse(&code.to_string()), Ok(code));
            prop_assert_eq!(code.to_string().parse::<TenantCode>(), Ok(code));
        }

        #[test]
        fn changing_the_check_digit_is_always_detected(
            prefecture in 1u32..=47, rest in 0u32..1000, wrong in 0u8..10,
        ) {
            let five = format!("{prefecture:02}{rest:03}");
            let right = check_digit(&five).expect("digits");
            prop_assume!(wrong != right);
            let is_wrong_check_digit = matches!(
                TenantCode::parse(&format!("{five}{wrong}")),
                Err(CodeError::WrongCheckDigit { .. })
            );
            prop_assert!(is_wrong_check_digit);
        }
    }
}
