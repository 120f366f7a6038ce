//! 和暦: dates in the Japanese era calendar (明治 to 令和), as printed on certificates and as
//! found in migration files.
//!
//! # Era start dates
//!
//! | era  | letter | code | first day (Gregorian) | first day (和暦) |
//! |------|--------|------|-----------------------|------------------|
//! | 明治 | M | 1 | 1868-10-23 | 明治元年10月23日 |
//! | 大正 | T | 2 | 1912-07-30 | 大正元年7月30日  |
//! | 昭和 | S | 3 | 1926-12-25 | 昭和元年12月25日 |
//! | 平成 | H | 4 | 1989-01-08 | 平成元年1月8日   |
//! | 令和 | R | 5 | 2019-05-01 | 令和元年5月1日   |
//!
//! The day an era begins belongs to the new era (大正元年7月30日, not 明治45年7月30日), and the
//! year count restarts with 元年 on that day, so 昭和64年 has seven days and 令和元年 starts
//! on 5月1日.
//!
//! **明治** is taken to begin on 1868-10-23, the Gregorian date of the 改元の詔
//! (慶応4年9月8日 in the calendar of the time). The decree made 明治 retroactive to
//! 慶応4年1月1日 (1868-01-25), and Japan kept its lunisolar calendar until 明治5年12月2日
//! (1872-12-31), the day before 明治6年1月1日 = 1873-01-01. Dates before 1873 are therefore
//! labelled here with Gregorian month and day (明治元年10月23日 … 明治5年12月31日), which are
//! not the 旧暦 dates written on documents of the time; converting those needs a lunisolar
//! table that this crate does not have. From 1873-01-01 on, every date is exact.
//!
//! # Codes and notations read
//!
//! [`WarekiDate::parse`] reads "令和6年4月1日" (元年 for year 1, full-width digits allowed),
//! "R6.4.1" / "R06.04.01" (also with `/` or `-`), and "5060401": the one-digit 元号コード
//! (1 明治, 2 大正, 3 昭和, 4 平成, 5 令和) followed by YYMMDD, as 生年月日 are written in
//! migration files. A date past the end of its era (平成31年5月1日, or legacy notations such
//! as 平成32年) or before its start (平成元年1月7日) is refused, and the error gives the
//! correct notation of the same day.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::CodeError;

/// A Japanese era (元号) from 明治 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Era {
    /// 明治, from 1868-10-23 (see the [module docs](self) on this choice).
    Meiji,
    /// 大正, from 1912-07-30.
    Taisho,
    /// 昭和, from 1926-12-25.
    Showa,
    /// 平成, from 1989-01-08.
    Heisei,
    /// 令和, from 2019-05-01.
    Reiwa,
}

const fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) => date,
        None => panic!("invalid era start date"),
    }
}

const MEIJI_START: NaiveDate = ymd(1868, 10, 23);
const TAISHO_START: NaiveDate = ymd(1912, 7, 30);
const SHOWA_START: NaiveDate = ymd(1926, 12, 25);
const HEISEI_START: NaiveDate = ymd(1989, 1, 8);
const REIWA_START: NaiveDate = ymd(2019, 5, 1);

const ERAS: [Era; 5] = [Era::Meiji, Era::Taisho, Era::Showa, Era::Heisei, Era::Reiwa];

impl Era {
    /// All eras, oldest first.
    pub const fn all() -> &'static [Era; 5] {
        &ERAS
    }

    /// The name in kanji: "明治", "大正", "昭和", "平成", "令和".
    pub const fn name(self) -> &'static str {
        match self {
            Era::Meiji => "明治",
            Era::Taisho => "大正",
            Era::Showa => "昭和",
            Era::Heisei => "平成",
            Era::Reiwa => "令和",
        }
    }

    /// The one-letter abbreviation: M, T, S, H, R.
    pub const fn letter(self) -> char {
        match self {
            Era::Meiji => 'M',
            Era::Taisho => 'T',
            Era::Showa => 'S',
            Era::Heisei => 'H',
            Era::Reiwa => 'R',
        }
    }

    /// The 元号コード of Japanese migration layouts: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和.
    pub const fn code(self) -> u8 {
        match self {
            Era::Meiji => 1,
            Era::Taisho => 2,
            Era::Showa => 3,
            Era::Heisei => 4,
            Era::Reiwa => 5,
        }
    }

    /// The first day of the era (Gregorian).
    pub const fn start(self) -> NaiveDate {
        match self {
            Era::Meiji => MEIJI_START,
            Era::Taisho => TAISHO_START,
            Era::Showa => SHOWA_START,
            Era::Heisei => HEISEI_START,
            Era::Reiwa => REIWA_START,
        }
    }

    /// The last day of the era, or `None` for the current era (令和).
    pub fn last_day(self) -> Option<NaiveDate> {
        self.next().and_then(|next| next.start().pred_opt())
    }

    /// The era after this one.
    pub const fn next(self) -> Option<Era> {
        match self {
            Era::Meiji => Some(Era::Taisho),
            Era::Taisho => Some(Era::Showa),
            Era::Showa => Some(Era::Heisei),
            Era::Heisei => Some(Era::Reiwa),
            Era::Reiwa => None,
        }
    }

    /// The era before this one (none before 明治 is known here).
    pub const fn previous(self) -> Option<Era> {
        match self {
            Era::Meiji => None,
            Era::Taisho => Some(Era::Meiji),
            Era::Showa => Some(Era::Taisho),
            Era::Heisei => Some(Era::Showa),
            Era::Reiwa => Some(Era::Heisei),
        }
    }

    /// The era with 元号コード `code` (1–5).
    pub const fn from_code(code: u8) -> Option<Era> {
        match code {
            1 => Some(Era::Meiji),
            2 => Some(Era::Taisho),
            3 => Some(Era::Showa),
            4 => Some(Era::Heisei),
            5 => Some(Era::Reiwa),
            _ => None,
        }
    }

    /// The era with letter `letter` (M, T, S, H, R; either case).
    pub fn from_letter(letter: char) -> Option<Era> {
        let upper = letter.to_ascii_uppercase();
        ERAS.into_iter().find(|era| era.letter() == upper)
    }

    /// The era named `name` ("令和" …).
    pub fn from_name(name: &str) -> Option<Era> {
        ERAS.into_iter().find(|era| era.name() == name)
    }

    /// The era a Gregorian date falls in, or `None` before 1868-10-23.
    pub fn of(date: NaiveDate) -> Option<Era> {
        ERAS.into_iter().rev().find(|era| era.start() <= date)
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A valid 和暦 date: an era, a year of that era (1 = 元年) and a month and day, naming a day
/// on or after the era's first day and on or before its last.
///
/// Ordering is chronological.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WarekiDate {
    // First, so that the derived ordering is chronological.
    date: NaiveDate,
    era: Era,
    year: u32,
    month: u32,
    day: u32,
}

fn year_label(year: u32) -> String {
    if year == 1 {
        "元".to_owned()
    } else {
        year.to_string()
    }
}

fn no_such_date(input: &str, problem: String) -> CodeError {
    CodeError::NoSuchDate {
        input: input.to_owned(),
        problem,
    }
}

impl WarekiDate {
    /// The date `year` (1 = 元年) / `month` / `day` of `era`, if it exists and lies within
    /// the era.
    pub fn new(era: Era, year: u32, month: u32, day: u32) -> Result<WarekiDate, CodeError> {
        let input = format!("{}{}年{month}月{day}日", era.name(), year_label(year));
        Self::validated(era, year, month, day, &input)
    }

    fn validated(
        era: Era,
        year: u32,
        month: u32,
        day: u32,
        input: &str,
    ) -> Result<WarekiDate, CodeError> {
        if year == 0 {
            return Err(no_such_date(
                input,
                "there is no year 0 (the first year of an era is 元年, 1)".to_owned(),
            ));
        }
        if !(1..=12).contains(&month) {
            return Err(no_such_date(
                input,
                format!("there is no month {month} (months run from 1 to 12)"),
            ));
        }
        let era_year = format!("{}{}年", era.name(), year_label(year));
        let beyond = || {
            no_such_date(
                input,
                format!("{era_year} is beyond the calendar Murakumo supports"),
            )
        };
        let gregorian_year = i64::from(era.start().year()) + i64::from(year) - 1;
        let gregorian_year = i32::try_from(gregorian_year).map_err(|_| beyond())?;
        let days_in_month = (28..=31)
            .rev()
            .find(|d| NaiveDate::from_ymd_opt(gregorian_year, month, *d).is_some())
            .ok_or_else(beyond)?;
        if day == 0 || day > days_in_month {
            return Err(no_such_date(
                input,
                format!(
                    "{month}月 of {era_year} ({gregorian_year}) has {days_in_month} days, so \
                     there is no day {day}"
                ),
            ));
        }
        let date = NaiveDate::from_ymd_opt(gregorian_year, month, day).ok_or_else(beyond)?;
        if date < era.start() {
            return Err(CodeError::BeforeEraStart {
                input: input.to_owned(),
                era,
                suggestion: WarekiDate::from_gregorian(date),
            });
        }
        if era.last_day().is_some_and(|last| date > last) {
            return Err(CodeError::AfterEraEnd {
                input: input.to_owned(),
                era,
                suggestion: WarekiDate::from_gregorian(date),
            });
        }
        Ok(WarekiDate {
            date,
            era,
            year,
            month,
            day,
        })
    }

    /// The 和暦 date of a Gregorian date, or `None` before 明治 (1868-10-23).
    pub fn from_gregorian(date: NaiveDate) -> Option<WarekiDate> {
        let era = Era::of(date)?;
        let year = u32::try_from(date.year() - era.start().year() + 1).ok()?;
        Some(WarekiDate {
            date,
            era,
            year,
            month: date.month(),
            day: date.day(),
        })
    }

    /// The same day in the Gregorian calendar.
    pub fn to_gregorian(&self) -> NaiveDate {
        self.date
    }

    /// The era.
    pub fn era(&self) -> Era {
        self.era
    }

    /// The year of the era; 1 is 元年.
    pub fn year(&self) -> u32 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(&self) -> u32 {
        self.month
    }

    /// The day of the month, 1–31.
    pub fn day(&self) -> u32 {
        self.day
    }

    /// The 7-digit form of migration files, 元号コード + YYMMDD (令和6年4月1日 → "5060401");
    /// `None` from year 100 of an era on, which that form cannot hold.
    pub fn to_compact(&self) -> Option<String> {
        (self.year <= 99).then(|| {
            format!(
                "{}{:02}{:02}{:02}",
                self.era.code(),
                self.year,
                self.month,
                self.day
            )
        })
    }

    /// Reads a 和暦 date in any of the forms listed in the [module docs](self):
    /// "令和6年4月1日", "令和元年5月1日", "R6.4.1", "R06.04.01", "5060401".
    ///
    /// Surrounding and inner whitespace is ignored and full-width letters, digits and
    /// punctuation are read as their half-width forms.
    pub fn parse(input: &str) -> Result<WarekiDate, CodeError> {
        let input = input.trim();
        let text = normalise(input);
        let unrecognised = || CodeError::UnrecognisedWareki {
            input: input.to_owned(),
        };
        let unknown_era = |era: String| CodeError::UnknownEra {
            input: input.to_owned(),
            era,
        };

        let mut chars = text.chars();
        let Some(first) = chars.next() else {
            return Err(unrecognised());
        };

        // 5060401: 元号コード + YYMMDD.
        if text.len() == 7 && text.bytes().all(|b| b.is_ascii_digit()) {
            let field = |range: std::ops::Range<usize>| {
                text.get(range)
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(unrecognised)
            };
            let code = field(0..1)?;
            let era = u8::try_from(code)
                .ok()
                .and_then(Era::from_code)
                .ok_or_else(|| unknown_era(format!("元号コード {code}")))?;
            return Self::validated(era, field(1..3)?, field(3..5)?, field(5..7)?, input);
        }

        // R6.4.1, R06.04.01, H31/4/30.
        if first.is_ascii_alphabetic() {
            let era = Era::from_letter(first).ok_or_else(|| unknown_era(first.to_string()))?;
            let mut parts = chars.as_str().split(['.', '/', '-']);
            let (Some(year), Some(month), Some(day), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(unrecognised());
            };
            let (Some(year), Some(month), Some(day)) =
                (number(year, true), number(month, false), number(day, false))
            else {
                return Err(unrecognised());
            };
            return Self::validated(era, year, month, day, input);
        }

        // 令和6年4月1日.
        let Some((era, rest)) = ERAS
            .into_iter()
            .find_map(|era| text.strip_prefix(era.name()).map(|rest| (era, rest)))
        else {
            let name: String = text
                .chars()
                .take_while(|c| !c.is_ascii_digit() && *c != '元')
                .collect();
            return Err(
                if !name.is_empty() && name.len() < text.len() && text.contains('年') {
                    unknown_era(name)
                } else {
                    unrecognised()
                },
            );
        };
        let parsed = rest.split_once('年').and_then(|(year, rest)| {
            let (month, rest) = rest.split_once('月')?;
            let (day, rest) = rest.split_once('日')?;
            if !rest.is_empty() {
                return None;
            }
            Some((
                number(year, true)?,
                number(month, false)?,
                number(day, false)?,
            ))
        });
        let Some((year, month, day)) = parsed else {
            return Err(unrecognised());
        };
        Self::validated(era, year, month, day, input)
    }
}

/// Drops whitespace and maps full-width ASCII (U+FF01–U+FF5E: digits, letters, "．", "／",
/// "－") to half-width.
fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// A year, month or day field: 1–4 ASCII digits, or 元 where `gan` allows it.
fn number(text: &str, gan: bool) -> Option<u32> {
    if gan && text == "元" {
        return Some(1);
    }
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for WarekiDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}年{}月{}日",
            self.era.name(),
            year_label(self.year),
            self.month,
            self.day
        )
    }
}

impl fmt::Debug for WarekiDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WarekiDate({self} = {})", self.date)
    }
}

impl FromStr for WarekiDate {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WarekiDate::parse(s)
    }
}

/// Serializes as the kanji form, "令和6年4月1日".
impl Serialize for WarekiDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WarekiDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_str::deserialize(deserializer, "a 和暦 date such as 令和6年4月1日")
    }
}

/// Reads a date as staff type it, in the Gregorian or the 和暦 calendar: "1985-04-12",
/// "1985/4/12", "19850412", any form of [`WarekiDate::parse`] ("S60.4.12", "昭和60年4月12日",
/// "3600412"), and the era-digit form clerks use, "3-600412" (元号コード, a hyphen, YYMMDD).
/// Full-width digits and letters are read as half-width.
pub fn parse_date_input(input: &str) -> Result<NaiveDate, CodeError> {
    let text = normalise(input.trim());
    let unrecognised = || CodeError::UnrecognisedDate {
        input: input.trim().to_owned(),
    };
    if text.is_empty() {
        return Err(unrecognised());
    }
    // 3-600412: 元号コード, hyphen, YYMMDD.
    if let Some((code, rest)) = text.split_once('-')
        && code.len() == 1
        && rest.len() == 6
        && text
            .bytes()
            .filter(|b| *b != b'-')
            .all(|b| b.is_ascii_digit())
    {
        return WarekiDate::parse(&format!("{code}{rest}")).map(|w| w.to_gregorian());
    }
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(&text, "%Y%m%d").map_err(|_| unrecognised());
    }
    let gregorian = text.split(['-', '/', '.']).collect::<Vec<_>>();
    if let [y, m, d] = gregorian.as_slice()
        && y.len() == 4
        && [y, m, d]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse()) else {
            return Err(unrecognised());
        };
        return NaiveDate::from_ymd_opt(y, m, d).ok_or_else(unrecognised);
    }
    match WarekiDate::parse(&text) {
        Ok(w) => Ok(w.to_gregorian()),
        // A 和暦 date that names its era but is wrong says so (e.g. past the era's end).
        Err(CodeError::UnrecognisedWareki { .. }) => Err(unrecognised()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn staff_dates_are_read_in_every_form_clerks_type() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).expect("date");
        for (typed, want) in [
            ("1985-04-12", d(1985, 4, 12)),
            ("1985/4/12", d(1985, 4, 12)),
            ("19850412", d(1985, 4, 12)),
            ("S60.4.12", d(1985, 4, 12)),
            ("s60.4.12", d(1985, 4, 12)),
            ("昭和60年4月12日", d(1985, 4, 12)),
            ("3-600412", d(1985, 4, 12)),
            ("3600412", d(1985, 4, 12)),
            ("３－６００４１２", d(1985, 4, 12)),
            ("R8.11.20", d(2026, 11, 20)),
            ("令和元年5月1日", d(2019, 5, 1)),
        ] {
            assert_eq!(parse_date_input(typed).expect(typed), want, "{typed}");
        }
        for wrong in [
            "",
            "1985-13-01",
            "85-4-12",
            "6-600412",
            "3-6004",
            "yesterday",
        ] {
            assert!(
                parse_date_input(wrong).is_err(),
                "{wrong:?} must be refused"
            );
        }
        // Named era, impossible date: the era's own message, with the right notation.
        let past_end = parse_date_input("平成32年1月1日").expect_err("平成 ended");
        assert!(past_end.to_string().contains("令和"), "{past_end}");
        assert!(
            past_end.message_ja().contains("同じ日は 令和"),
            "{}",
            past_end.message_ja()
        );
        let typo = parse_date_input("きのう").expect_err("not a date");
        assert!(
            typo.message_ja().contains("S60.4.12"),
            "{}",
            typo.message_ja()
        );
    }
    use super::*;
    use crate::serde_str::capture::{Scalar, scalar};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn wareki(y: i32, m: u32, d: u32) -> String {
        WarekiDate::from_gregorian(date(y, m, d))
            .map(|w| w.to_string())
            .unwrap_or_default()
    }

    fn parse(s: &str) -> WarekiDate {
        WarekiDate::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn era_table() {
        let table: Vec<_> = Era::all()
            .iter()
            .map(|e| (e.name(), e.letter(), e.code(), e.start().to_string()))
            .collect();
        assert_eq!(
            table,
            [
                ("明治", 'M', 1, "1868-10-23".to_owned()),
                ("大正", 'T', 2, "1912-07-30".to_owned()),
                ("昭和", 'S', 3, "1926-12-25".to_owned()),
                ("平成", 'H', 4, "1989-01-08".to_owned()),
                ("令和", 'R', 5, "2019-05-01".to_owned()),
            ]
        );
        for era in Era::all() {
            assert_eq!(Era::from_code(era.code()), Some(*era));
            assert_eq!(Era::from_letter(era.letter()), Some(*era));
            assert_eq!(
                Era::from_letter(era.letter().to_ascii_lowercase()),
                Some(*era)
            );
            assert_eq!(Era::from_name(era.name()), Some(*era));
            assert_eq!(era.to_string(), era.name());
            if let Some(next) = era.next() {
                assert_eq!(next.previous(), Some(*era));
                assert_eq!(
                    era.last_day().and_then(|d| d.succ_opt()),
                    Some(next.start())
                );
            }
        }
        assert_eq!(Era::Reiwa.last_day(), None);
        assert_eq!(Era::Heisei.last_day(), Some(date(2019, 4, 30)));
        assert_eq!(Era::from_code(0), None);
        assert_eq!(Era::from_code(6), None);
        assert_eq!(Era::from_letter('X'), None);
    }

    #[test]
    fn era_boundaries() {
        assert_eq!(wareki(1868, 10, 22), "");
        assert_eq!(wareki(1868, 10, 23), "明治元年10月23日");
        assert_eq!(wareki(1873, 1, 1), "明治6年1月1日");
        assert_eq!(wareki(1912, 7, 29), "明治45年7月29日");
        assert_eq!(wareki(1912, 7, 30), "大正元年7月30日");
        assert_eq!(wareki(1926, 12, 24), "大正15年12月24日");
        assert_eq!(wareki(1926, 12, 25), "昭和元年12月25日");
        assert_eq!(wareki(1927, 1, 1), "昭和2年1月1日");
        assert_eq!(wareki(1989, 1, 7), "昭和64年1月7日");
        assert_eq!(wareki(1989, 1, 8), "平成元年1月8日");
        assert_eq!(wareki(2019, 4, 30), "平成31年4月30日");
        assert_eq!(wareki(2019, 5, 1), "令和元年5月1日");
        assert_eq!(wareki(2024, 4, 1), "令和6年4月1日");
        assert_eq!(Era::of(date(1868, 10, 22)), None);
    }

    #[test]
    fn accessors_and_to_gregorian() {
        let d = WarekiDate::new(Era::Reiwa, 6, 4, 1).expect("valid");
        assert_eq!(
            (d.era(), d.year(), d.month(), d.day()),
            (Era::Reiwa, 6, 4, 1)
        );
        assert_eq!(d.to_gregorian(), date(2024, 4, 1));
        assert_eq!(format!("{d:?}"), "WarekiDate(令和6年4月1日 = 2024-04-01)");
        assert_eq!(d.to_compact().as_deref(), Some("5060401"));
        let late = WarekiDate::new(Era::Reiwa, 100, 1, 1).expect("2118");
        assert_eq!(late.to_compact(), None);
        assert_eq!(late.to_string(), "令和100年1月1日");
    }

    #[test]
    fn parse_reads_every_notation() {
        let expected = WarekiDate::new(Era::Reiwa, 6, 4, 1).expect("valid");
        for text in [
            "令和6年4月1日",
            "令和06年04月01日",
            "令和６年４月１日",
            " 令和 6年 4月 1日 ",
            "R6.4.1",
            "R06.04.01",
            "r6.4.1",
            "R6/4/1",
            "R6-4-1",
            "Ｒ６．４．１",
            "5060401",
            "５０６０４０１",
        ] {
            assert_eq!(WarekiDate::parse(text), Ok(expected), "{text}");
        }
        assert_eq!(parse("令和元年5月1日").to_gregorian(), date(2019, 5, 1));
        assert_eq!(parse("R元.5.1").to_gregorian(), date(2019, 5, 1));
        assert_eq!(parse("H31.4.30").to_gregorian(), date(2019, 4, 30));
        assert_eq!(parse("S64.1.7").to_gregorian(), date(1989, 1, 7));
        assert_eq!(parse("3640107").to_gregorian(), date(1989, 1, 7));
        assert_eq!(parse("2011231").to_gregorian(), date(1912, 12, 31));
        assert_eq!(parse("1450729").to_gregorian(), date(1912, 7, 29));
        assert_eq!(parse("明治45年7月29日").to_gregorian(), date(1912, 7, 29));
        assert_eq!(parse("大正元年7月30日").to_gregorian(), date(1912, 7, 30));
        assert_eq!(
            "平成元年1月8日"
                .parse::<WarekiDate>()
                .map(|d| d.to_gregorian()),
            Ok(date(1989, 1, 8))
        );
    }

    #[test]
    fn after_the_end_of_an_era_the_error_gives_the_right_notation() {
        let err = WarekiDate::parse("平成31年5月1日").expect_err("must be refused");
        assert_eq!(
            err,
            CodeError::AfterEraEnd {
                input: "平成31年5月1日".to_owned(),
                era: Era::Heisei,
                suggestion: WarekiDate::new(Era::Reiwa, 1, 5, 1).ok(),
            }
        );
        assert_eq!(
            err.to_string(),
            "date (和暦) \"平成31年5月1日\" is after the end of 平成 (its last day was \
             平成31年4月30日); the same day (2019-05-01) is 令和元年5月1日: write that instead"
        );
        // Legacy notations such as 平成32年 are refused the same way.
        let err = WarekiDate::parse("H32.1.1").expect_err("must be refused");
        assert!(err.to_string().contains("令和2年1月1日"), "{err}");
        let err = WarekiDate::parse("明治45年7月30日").expect_err("must be refused");
        assert!(err.to_string().contains("大正元年7月30日"), "{err}");
        assert!(WarekiDate::new(Era::Showa, 64, 1, 8).is_err());
    }

    #[test]
    fn before_the_start_of_an_era_the_error_gives_the_right_notation() {
        let err = WarekiDate::parse("平成元年1月7日").expect_err("must be refused");
        assert_eq!(
            err,
            CodeError::BeforeEraStart {
                input: "平成元年1月7日".to_owned(),
                era: Era::Heisei,
                suggestion: WarekiDate::new(Era::Showa, 64, 1, 7).ok(),
            }
        );
        assert_eq!(
            err.to_string(),
            "date (和暦) \"平成元年1月7日\" is before 平成 began on 平成元年1月8日 (1989-01-08); \
             the same day (1989-01-07) is 昭和64年1月7日: write that instead"
        );
        let err = WarekiDate::parse("明治元年1月1日").expect_err("must be refused");
        assert!(matches!(
            err,
            CodeError::BeforeEraStart {
                suggestion: None,
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("before 明治 began on 明治元年10月23日 (1868-10-23); Murakumo does not support dates before the start of 明治"),
            "{err}"
        );
    }

    #[test]
    fn dates_that_do_not_exist_are_refused() {
        let err = WarekiDate::parse("令和5年2月29日").expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "date (和暦) \"令和5年2月29日\" does not exist: 2月 of 令和5年 (2023) has 28 days, \
             so there is no day 29; check the date on the source document"
        );
        assert!(WarekiDate::parse("令和6年2月29日").is_ok());
        assert!(WarekiDate::parse("平成12年2月29日").is_ok()); // 2000 is a leap year.
        assert!(WarekiDate::parse("明治33年2月29日").is_err()); // 1900 is not.
        for (text, needle) in [
            ("令和6年13月1日", "there is no month 13"),
            ("令和6年0月1日", "there is no month 0"),
            ("令和6年4月31日", "has 30 days"),
            ("令和6年4月0日", "there is no day 0"),
            ("令和0年4月1日", "there is no year 0"),
            ("5000401", "there is no year 0"),
            ("R6.4.32", "has 30 days"),
        ] {
            let err = WarekiDate::parse(text).expect_err("must be refused");
            assert!(
                matches!(err, CodeError::NoSuchDate { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_eras_and_unreadable_text() {
        for (text, era) in [
            ("慶応4年1月1日", "慶応"),
            ("X6.4.1", "X"),
            ("0060401", "元号コード 0"),
            ("6060401", "元号コード 6"),
        ] {
            let err = WarekiDate::parse(text).expect_err("must be refused");
            assert_eq!(
                err,
                CodeError::UnknownEra {
                    input: text.to_owned(),
                    era: era.to_owned()
                }
            );
            assert!(
                err.to_string()
                    .contains("use 明治, 大正, 昭和, 平成 or 令和"),
                "{err}"
            );
        }
        for text in [
            "",
            "  ",
            "2024-04-01",
            "20240401",
            "令和6年4月",
            "令和6年4月1日です",
            "R6.4",
            "R6.4.1.2",
            "R.4.1",
            "R6..1",
            "R12345.1.1",
            "令和",
            "元年",
        ] {
            let err = WarekiDate::parse(text).expect_err("must be refused");
            assert!(
                matches!(err, CodeError::UnrecognisedWareki { .. }),
                "{text}: {err:?}"
            );
        }
        assert_eq!(
            WarekiDate::parse("2024-04-01")
                .expect_err("must be refused")
                .to_string(),
            "date (和暦) \"2024-04-01\" is not in a form Murakumo reads; write it as \
             令和6年4月1日, R6.4.1 or 5060401 (元号コード 1–5 followed by YYMMDD)"
        );
    }

    #[test]
    fn new_describes_its_own_input_in_errors() {
        let err = WarekiDate::new(Era::Heisei, 31, 5, 1).expect_err("must be refused");
        assert!(matches!(&err, CodeError::AfterEraEnd { input, .. } if input == "平成31年5月1日"));
        let err = WarekiDate::new(Era::Reiwa, 1, 4, 1).expect_err("must be refused");
        assert!(
            matches!(&err, CodeError::BeforeEraStart { input, .. } if input == "令和元年4月1日")
        );
        assert!(WarekiDate::new(Era::Reiwa, u32::MAX, 1, 1).is_err());
    }

    #[test]
    fn serde_is_the_kanji_form() {
        let d = WarekiDate::new(Era::Reiwa, 1, 5, 1).expect("valid");
        assert_eq!(scalar(&d), Ok(Scalar::Str("令和元年5月1日".to_owned())));
        let de: StrDeserializer<'_, DeError> = "R1.5.1".into_deserializer();
        assert_eq!(WarekiDate::deserialize(de), Ok(d));
        let de: StrDeserializer<'_, DeError> = "平成31年5月1日".into_deserializer();
        assert!(WarekiDate::deserialize(de).is_err());
    }

    #[test]
    fn ordering_is_chronological() {
        let a = parse("昭和64年1月7日");
        let b = parse("平成元年1月8日");
        let c = parse("平成2年1月1日");
        assert!(a < b && b < c);
    }

    /// Every day from the start of 明治 to the end of 2100 converts both ways and survives
    /// every notation.
    #[test]
    fn every_day_round_trips() {
        let mut day = Era::Meiji.start();
        let end = date(2100, 12, 31);
        while day <= end {
            let w = WarekiDate::from_gregorian(day).expect("after 明治");
            assert_eq!(w.to_gregorian(), day);
            assert_eq!(
                WarekiDate::new(w.era(), w.year(), w.month(), w.day()),
                Ok(w)
            );
            assert_eq!(WarekiDate::parse(&w.to_string()), Ok(w));
            if let Some(compact) = w.to_compact() {
                assert_eq!(WarekiDate::parse(&compact), Ok(w));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }

    fn days_1873_to_2100() -> i64 {
        (date(2100, 12, 31) - date(1873, 1, 1)).num_days()
    }

    proptest! {
        #[test]
        fn gregorian_round_trip_1873_to_2100(offset in 0..=days_1873_to_2100()) {
            let day = date(1873, 1, 1) + chrono::Days::new(offset.unsigned_abs());
            let w = WarekiDate::from_gregorian(day).expect("after 明治");
            prop_assert_eq!(w.to_gregorian(), day);
            prop_assert_eq!(WarekiDate::parse(&w.to_string()), Ok(w));
            let letter_form = format!("{}{}.{}.{}", w.era().letter(), w.year(), w.month(), w.day());
            prop_assert_eq!(WarekiDate::parse(&letter_form), Ok(w));
            let compact = w.to_compact().expect("years below 100");
            prop_assert_eq!(WarekiDate::parse(&compact), Ok(w));
        }

        #[test]
        fn any_era_year_month_day_is_valid_iff_it_names_a_day_of_that_era(
            code in 1u8..=5, year in 0u32..120, month in 0u32..14, day in 0u32..33,
        ) {
            let era = Era::from_code(code).expect("1–5");
            match WarekiDate::new(era, year, month, day) {
                Ok(w) => {
                    prop_assert_eq!(Era::of(w.to_gregorian()), Some(era));
                    prop_assert_eq!(WarekiDate::from_gregorian(w.to_gregorian()), Some(w));
                }
                Err(CodeError::BeforeEraStart { suggestion, .. })
                | Err(CodeError::AfterEraEnd { suggestion, .. }) => {
                    if let Some(s) = suggestion {
                        prop_assert_ne!(s.era(), era);
                        prop_assert_eq!((s.month(), s.day()), (month, day));
                    }
                }
                Err(CodeError::NoSuchDate { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,16}") {
            // Whatever it is given, it answers: a value that prints as
            // something it reads back, or an error that says what is wrong.
            match WarekiDate::parse(&input) {
                Ok(v) => prop_assert_eq!(WarekiDate::parse(&v.to_string()), Ok(v)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
