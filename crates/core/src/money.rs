//! Amounts of money in whole yen (円).
//!
//! Japanese taxes, fees and payments are whole yen; amounts are kept as `i64` (negative for
//! refunds and corrections) and all arithmetic is checked, so an overflow is an error and
//! never a wrapped amount.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CodeError;

/// An amount in whole yen. Serializes as a plain integer; displays as "1,234円".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Yen(i64);

impl Yen {
    /// 0円.
    pub const ZERO: Yen = Yen(0);

    /// An amount of `amount` yen.
    pub const fn new(amount: i64) -> Yen {
        Yen(amount)
    }

    /// The amount in yen.
    pub const fn amount(self) -> i64 {
        self.0
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Yen) -> Option<Yen> {
        match self.0.checked_add(rhs.0) {
            Some(sum) => Some(Yen(sum)),
            None => None,
        }
    }

    /// `self − rhs`, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Yen) -> Option<Yen> {
        match self.0.checked_sub(rhs.0) {
            Some(difference) => Some(Yen(difference)),
            None => None,
        }
    }

    /// Whether the amount is below zero (a refund or a correction).
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Reads an amount such as "1234", "1,234", "1,234円", "¥1,234" or "-500円".
    ///
    /// Surrounding whitespace is ignored and full-width digits, commas, "－" and "￥" are read
    /// as their half-width forms. Commas, if any, must separate groups of three digits.
    pub fn parse(input: &str) -> Result<Yen, CodeError> {
        let input = input.trim();
        let invalid = |problem: &str| CodeError::InvalidYen {
            input: input.to_owned(),
            problem: problem.to_owned(),
        };
        let text: String = input
            .chars()
            .map(|c| match c {
                '０'..='９' | '，' | '－' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                '￥' => '¥',
                '−' => '-',
                _ => c,
            })
            .collect();
        let text = text.strip_suffix('円').unwrap_or(&text);
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let text = text.strip_prefix('¥').unwrap_or(text);
        if text.is_empty() {
            return Err(invalid("there are no digits"));
        }
        if let Some(c) = text.chars().find(|c| !c.is_ascii_digit() && *c != ',') {
            return Err(invalid(&format!("{c:?} is neither a digit nor a comma")));
        }
        if text.contains(',') {
            let mut groups = text.split(',');
            let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
            if !first_ok || !groups.all(|g| g.len() == 3) {
                return Err(invalid("commas must separate groups of three digits"));
            }
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let signed = if negative {
            format!("-{digits}")
        } else {
            digits
        };
        signed
            .parse::<i64>()
            .map(Yen)
            .map_err(|_| invalid("it is beyond ±9,223,372,036,854,775,807円"))
    }
}

impl From<i64> for Yen {
    fn from(amount: i64) -> Yen {
        Yen(amount)
    }
}

impl From<Yen> for i64 {
    fn from(yen: Yen) -> i64 {
        yen.0
    }
}

/// "1,234円", "-500円", "0円".
impl fmt::Display for Yen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 4);
        if self.0 < 0 {
            grouped.push('-');
        }
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        grouped.push('円');
        f.write_str(&grouped)
    }
}

impl FromStr for Yen {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Yen::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde_str::capture::{Scalar, scalar};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, I64Deserializer};

    #[test]
    fn display_groups_thousands() {
        for (amount, text) in [
            (0, "0円"),
            (1, "1円"),
            (999, "999円"),
            (1_000, "1,000円"),
            (1_234, "1,234円"),
            (123_456, "123,456円"),
            (1_234_567, "1,234,567円"),
            (-1, "-1円"),
            (-1_234, "-1,234円"),
            (-123_456, "-123,456円"),
            (i64::MAX, "9,223,372,036,854,775,807円"),
            (i64::MIN, "-9,223,372,036,854,775,808円"),
        ] {
            assert_eq!(Yen::new(amount).to_string(), text);
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Yen::new(1_000);
        let b = Yen::new(234);
        assert_eq!(a.checked_add(b), Some(Yen::new(1_234)));
        assert_eq!(b.checked_sub(a), Some(Yen::new(-766)));
        assert!(b.checked_sub(a).is_some_and(Yen::is_negative));
        assert_eq!(Yen::new(i64::MAX).checked_add(Yen::new(1)), None);
        assert_eq!(Yen::new(i64::MIN).checked_sub(Yen::new(1)), None);
        assert_eq!(Yen::ZERO.checked_sub(Yen::new(i64::MIN)), None);
        assert_eq!(Yen::default(), Yen::ZERO);
        assert_eq!(i64::from(Yen::from(42)), 42);
        assert_eq!(Yen::new(42).amount(), 42);
    }

    #[test]
    fn serde_is_a_plain_integer() {
        assert_eq!(scalar(&Yen::new(-1_234)), Ok(Scalar::I64(-1_234)));
        let de: I64Deserializer<DeError> = 1_234i64.into_deserializer();
        assert_eq!(Yen::deserialize(de), Ok(Yen::new(1_234)));
    }

    #[test]
    fn parse_reads_common_notations() {
        for (text, amount) in [
            ("0", 0),
            ("1234", 1_234),
            ("1,234", 1_234),
            ("1,234円", 1_234),
            ("¥1,234", 1_234),
            ("￥１，２３４", 1_234),
            (" -500円 ", -500),
            ("−500円", -500),
            ("-¥1,000,000", -1_000_000),
            ("9,223,372,036,854,775,807円", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(Yen::parse(text), Ok(Yen::new(amount)), "{text}");
        }
        assert_eq!("1,234円".parse::<Yen>(), Ok(Yen::new(1_234)));
    }

    #[test]
    fn parse_refuses_what_is_not_an_amount() {
        for (text, needle) in [
            ("", "there are no digits"),
            ("円", "there are no digits"),
            ("-", "there are no digits"),
            ("12.5", "'.' is neither a digit nor a comma"),
            ("1,23", "groups of three"),
            ("1234,567", "groups of three"),
            (",123", "groups of three"),
            ("1,,234", "groups of three"),
            ("10000000000000000000", "beyond"),
            ("１２３ドル", "'ド' is neither"),
        ] {
            let err = Yen::parse(text).expect_err("must be refused");
            assert!(matches!(err, CodeError::InvalidYen { .. }), "{text}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        assert_eq!(
            Yen::parse("12.5").expect_err("must be refused").to_string(),
            "amount (金額) \"12.5\" is not a yen amount: '.' is neither a digit nor a comma; \
             write it as digits, optionally with a minus sign, commas every three digits and 円, \
             e.g. 1,234円"
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(amount in any::<i64>()) {
            let yen = Yen::new(amount);
            prop_assert_eq!(Yen::parse(&yen.to_string()), Ok(yen));
            prop_assert_eq!(Yen::parse(&amount.to_string()), Ok(yen));
        }

        #[test]
        fn checked_add_matches_i128(a in any::<i64>(), b in any::<i64>()) {
            let wide = i128::from(a) + i128::from(b);
            let expected = i64::try_from(wide).ok().map(Yen::new);
            prop_assert_eq!(Yen::new(a).checked_add(Yen::new(b)), expected);
            let wide = i128::from(a) - i128::from(b);
            let expected = i64::try_from(wide).ok().map(Yen::new);
            prop_assert_eq!(Yen::new(a).checked_sub(Yen::new(b)), expected);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,24}") {
            // Whatever it is given, it answers: a value that prints as
            // something it reads back, or an error that says what is wrong.
            match Yen::parse(&input) {
                Ok(v) => prop_assert_eq!(Yen::parse(&v.to_string()), Ok(v)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
