//! The one error type of this crate, [`CodeError`].
//!
//! Every message says what was wrong, with which value, why, and what to do, in English with
//! the Japanese term in parentheses, so that a clerk at the counter or an operator reading an
//! import report can act on it without reading code.
//!
//! Values of sensitive identifiers (住民票コード, 個人番号) are never copied into an error:
//! errors end up in logs and import reports, and the line number of the report is enough to
//! find the record. Only the position and kind of the problem are reported for them.

use std::fmt;

use crate::wareki::{Era, WarekiDate};

/// Which fixed-length code a [`CodeError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeKind {
    /// 全国地方公共団体コード (6 digits), see [`crate::tenant_code::TenantCode`].
    TenantCode,
    /// 住民票コード (11 digits), see [`crate::resident_code::ResidentCode`].
    ResidentCode,
    /// 個人番号 (12 digits), see [`crate::individual_number::IndividualNumber`].
    IndividualNumber,
}

impl CodeKind {
    /// Number of digits of a complete code, check digit included.
    pub const fn digit_count(self) -> usize {
        match self {
            CodeKind::TenantCode => 6,
            CodeKind::ResidentCode => 11,
            CodeKind::IndividualNumber => 12,
        }
    }

    /// Whether values of this kind must be kept out of error messages and debug output.
    pub const fn is_sensitive(self) -> bool {
        match self {
            CodeKind::TenantCode => false,
            CodeKind::ResidentCode | CodeKind::IndividualNumber => true,
        }
    }

    /// What a clerk should do when a code of this kind is wrong.
    pub const fn remedy(self) -> &'static str {
        match self {
            CodeKind::TenantCode => {
                "check the code against 総務省's list of 全国地方公共団体コード"
            }
            CodeKind::ResidentCode => {
                "check the number against the 住民票 or the 住基ネット record (住民票コード通知票)"
            }
            CodeKind::IndividualNumber => {
                "check the number against the 個人番号カード, 通知カード or 個人番号通知書"
            }
        }
    }
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::TenantCode => "tenant code (全国地方公共団体コード)",
            CodeKind::ResidentCode => "resident record code (住民票コード)",
            CodeKind::IndividualNumber => "individual number (個人番号)",
        })
    }
}

/// The input as an error may show it: the text itself for codes that are not sensitive,
/// nothing at all for 住民票コード and 個人番号.
///
/// Its `Display` writes a leading space and the value (quoted when it is not all digits), or
/// nothing, so that messages read "tenant code (…) 131017 has …" and
/// "individual number (個人番号) has …".
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShownInput(Option<String>);

impl ShownInput {
    pub(crate) fn new(kind: CodeKind, input: &str) -> Self {
        if kind.is_sensitive() {
            ShownInput(None)
        } else {
            ShownInput(Some(input.to_owned()))
        }
    }

    /// The input as given, or `None` when it is withheld because it is sensitive.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Display for ShownInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => Ok(()),
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                write!(f, " {s}")
            }
            Some(s) => write!(f, " \"{s}\""),
        }
    }
}

impl fmt::Debug for ShownInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("<withheld>"),
            Some(s) => fmt::Debug::fmt(s, f),
        }
    }
}

/// Everything that can be wrong with a code, a 和暦 date or a yen amount given to this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing (or only whitespace) was given.
    #[error("{kind} is empty; enter the {}-digit code", .kind.digit_count())]
    Empty {
        /// Which code was expected.
        kind: CodeKind,
    },

    /// A character other than the half-width digits 0–9 was found.
    #[error(
        "{kind}{input} contains {found:?} at position {position}, but only half-width digits \
         0–9 are allowed; {}",
        char_hint(*.kind, *.found)
    )]
    NotADigit {
        /// Which code was expected.
        kind: CodeKind,
        /// The input (withheld for sensitive codes).
        input: ShownInput,
        /// 1-based character position of the offending character, after trimming.
        position: usize,
        /// The offending character.
        found: char,
    },

    /// The number of digits is wrong.
    #[error("{kind}{input} has {got} digits, but {expected} are required; {hint}")]
    WrongLength {
        /// Which code was expected.
        kind: CodeKind,
        /// The input (withheld for sensitive codes).
        input: ShownInput,
        /// How many digits were given.
        got: usize,
        /// How many digits are required (the full code, or its digits without the check digit
        /// where only those are asked for).
        expected: usize,
        /// What to do about it.
        hint: String,
    },

    /// All digits are there, but the last one does not match the others.
    #[error(
        "{kind}{input} has a wrong check digit: expected {expected} (got {got}); {}",
        .kind.remedy()
    )]
    WrongCheckDigit {
        /// Which code was given.
        kind: CodeKind,
        /// The input (withheld for sensitive codes).
        input: ShownInput,
        /// The check digit the other digits call for.
        expected: u8,
        /// The check digit that was given.
        got: u8,
    },

    /// A 全国地方公共団体コード whose first two digits are not a prefecture (01–47).
    #[error(
        "tenant code (全国地方公共団体コード) {input} starts with {prefix}, which is not a \
         prefecture code (都道府県コード 01 北海道 to 47 沖縄県); check the code against \
         総務省's list of 全国地方公共団体コード"
    )]
    UnknownPrefecture {
        /// The code as given.
        input: String,
        /// Its first two digits.
        prefix: String,
    },

    /// A date typed by staff in none of the forms [`crate::parse_date_input`] reads.
    #[error(
        "date \"{input}\" is not in a form Murakumo reads; write it as 1985-04-12, S60.4.12, \
         昭和60年4月12日 or 3-600412 (元号コード, a hyphen, YYMMDD)"
    )]
    UnrecognisedDate {
        /// The text as given.
        input: String,
    },

    /// A 和暦 date in none of the forms [`WarekiDate::parse`] reads.
    #[error(
        "date (和暦) \"{input}\" is not in a form Murakumo reads; write it as 令和6年4月1日, \
         R6.4.1 or 5060401 (元号コード 1–5 followed by YYMMDD)"
    )]
    UnrecognisedWareki {
        /// The text as given.
        input: String,
    },

    /// A 和暦 date naming an era (元号) this crate does not know.
    #[error(
        "date (和暦) \"{input}\" names an unknown era (元号) \"{era}\"; use 明治, 大正, 昭和, \
         平成 or 令和 (letters M, T, S, H, R; codes 1–5); dates before 明治 are not supported"
    )]
    UnknownEra {
        /// The text as given.
        input: String,
        /// The era name, letter or code that was not recognised.
        era: String,
    },

    /// A 和暦 date whose year, month or day does not exist.
    #[error(
        "date (和暦) \"{input}\" does not exist: {problem}; check the date on the source document"
    )]
    NoSuchDate {
        /// The text as given.
        input: String,
        /// What does not exist, and why.
        problem: String,
    },

    /// A 和暦 date before the first day of the era it names (e.g. 平成元年1月7日).
    #[error(
        "date (和暦) \"{input}\" is before {} began on {} ({}); {}",
        .era.name(),
        first_day(*.era),
        .era.start(),
        same_day(.suggestion.as_ref())
    )]
    BeforeEraStart {
        /// The text as given.
        input: String,
        /// The era it names.
        era: Era,
        /// The same day written correctly, if it is on or after the start of 明治.
        suggestion: Option<WarekiDate>,
    },

    /// A 和暦 date after the last day of the era it names (e.g. 平成31年5月1日).
    #[error(
        "date (和暦) \"{input}\" is after the end of {} (its last day was {}); {}",
        .era.name(),
        last_day(*.era),
        same_day(.suggestion.as_ref())
    )]
    AfterEraEnd {
        /// The text as given.
        input: String,
        /// The era it names.
        era: Era,
        /// The same day written correctly.
        suggestion: Option<WarekiDate>,
    },

    /// Text that is not an amount of yen.
    #[error(
        "amount (金額) \"{input}\" is not a yen amount: {problem}; write it as digits, optionally \
         with a minus sign, commas every three digits and 円, e.g. 1,234円"
    )]
    InvalidYen {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl CodeKind {
    /// The code's Japanese name, as staff know it.
    pub const fn name_ja(self) -> &'static str {
        match self {
            CodeKind::TenantCode => "全国地方公共団体コード",
            CodeKind::ResidentCode => "住民票コード",
            CodeKind::IndividualNumber => "個人番号",
        }
    }

    const fn remedy_ja(self) -> &'static str {
        match self {
            CodeKind::TenantCode => "総務省の全国地方公共団体コード一覧で確認してください",
            CodeKind::ResidentCode => "住民票または住民票コード通知票で番号を確認してください",
            CodeKind::IndividualNumber => {
                "個人番号カード、通知カードまたは個人番号通知書で番号を確認してください"
            }
        }
    }
}

impl CodeError {
    /// The message in Japanese, for staff at the counter and the public (the `Display` form,
    /// English with the Japanese terms, is for logs, import reports and scripts). Like it,
    /// never shows a 住民票コード or 個人番号.
    pub fn message_ja(&self) -> String {
        match self {
            CodeError::Empty { kind } => format!(
                "{}が入力されていません。{}桁の番号を入力してください",
                kind.name_ja(),
                kind.digit_count()
            ),
            CodeError::NotADigit {
                kind,
                position,
                found,
                ..
            } => {
                let hint = if ('０'..='９').contains(found) {
                    "全角数字は半角数字で入力してください".to_owned()
                } else if matches!(found, ' ' | '　' | '-' | 'ー' | '－' | '‐') {
                    "数字の間の空白やハイフンを除いてください".to_owned()
                } else {
                    kind.remedy_ja().to_owned()
                };
                format!(
                    "{}の{position}文字目「{found}」は数字ではありません。半角数字だけで入力してください({hint})",
                    kind.name_ja()
                )
            }
            CodeError::WrongLength {
                kind,
                got,
                expected,
                ..
            } => format!(
                "{}は{expected}桁です({got}桁入力されています)。{}",
                kind.name_ja(),
                kind.remedy_ja()
            ),
            // The expected digit is named only where the input may be shown: for a 住民票コード
            // or 個人番号 it would complete a mistyped number for whoever typed it.
            CodeError::WrongCheckDigit {
                kind,
                input: ShownInput(Some(_)),
                expected,
                got,
            } => format!(
                "{}の検査数字が合いません(入力は {got}、ほかの桁から計算すると {expected})。入力の誤りがないか、{}",
                kind.name_ja(),
                kind.remedy_ja()
            ),
            CodeError::WrongCheckDigit { kind, .. } => format!(
                "{}の検査数字が合いません。入力の誤りがないか、{}",
                kind.name_ja(),
                kind.remedy_ja()
            ),
            CodeError::UnknownPrefecture { input, prefix } => format!(
                "全国地方公共団体コード {input} の先頭 {prefix} は都道府県コード(01 北海道〜47 沖縄県)ではありません。{}",
                CodeKind::TenantCode.remedy_ja()
            ),
            CodeError::UnrecognisedDate { input } | CodeError::UnrecognisedWareki { input } => {
                format!(
                    "日付「{input}」を読み取れません。1985-04-12、S60.4.12、昭和60年4月12日、3-600412(元号の数字-年月日)のいずれかの形で入力してください"
                )
            }
            CodeError::UnknownEra { input, era } => format!(
                "日付「{input}」の元号「{era}」は使えません。明治・大正・昭和・平成・令和(M・T・S・H・R、数字なら 1〜5)のいずれかで入力してください"
            ),
            CodeError::NoSuchDate { input, .. } => {
                format!("日付「{input}」は存在しない日付です。届書などの日付を確認してください")
            }
            CodeError::BeforeEraStart {
                input,
                era,
                suggestion,
            } => format!(
                "日付「{input}」は{}の始まり({})より前です。{}",
                era.name(),
                first_day(*era),
                suggestion
                    .as_ref()
                    .map_or(String::new(), |d| format!("同じ日は {d} です"))
            ),
            CodeError::AfterEraEnd {
                input,
                era,
                suggestion,
            } => format!(
                "日付「{input}」は{}の終わり({})より後です。{}",
                era.name(),
                last_day(*era),
                suggestion
                    .as_ref()
                    .map_or(String::new(), |d| format!("同じ日は {d} です"))
            ),
            CodeError::InvalidYen { input, .. } => {
                format!("金額「{input}」を読み取れません。数字で入力してください(例: 1,234円)")
            }
        }
    }
}

fn char_hint(kind: CodeKind, c: char) -> String {
    if ('０'..='９').contains(&c) {
        format!("{c:?} is a full-width digit (全角数字): type it as a half-width digit (半角数字)")
    } else if matches!(c, ' ' | '　' | '-' | 'ー' | '－' | '‐') {
        "remove spaces and hyphens between the digits".to_owned()
    } else {
        kind.remedy().to_owned()
    }
}

fn first_day(era: Era) -> String {
    WarekiDate::from_gregorian(era.start())
        .map(|d| d.to_string())
        .unwrap_or_default()
}

fn last_day(era: Era) -> String {
    era.last_day()
        .and_then(WarekiDate::from_gregorian)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

fn same_day(suggestion: Option<&WarekiDate>) -> String {
    match suggestion {
        Some(d) => format!(
            "the same day ({}) is {d}: write that instead",
            d.to_gregorian()
        ),
        None => "Murakumo does not support dates before the start of 明治".to_owned(),
    }
}
