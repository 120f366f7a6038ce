//! The text parsers of murakumo-core on arbitrary strings: `TenantCode::parse`,
//! `ResidentCode::parse`, `IndividualNumber::parse`, `WarekiDate::parse` and
//! `Yen::parse`.
//!
//! Properties: never panic; errors format without panicking; a parsed value
//! formats to a string that parses back to the same value; a code parsed from
//! text is that text without surrounding ASCII whitespace; errors about
//! 住民票コード and 個人番号 never contain the digits given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murakumo_core::{CodeError, IndividualNumber, ResidentCode, TenantCode, WarekiDate, Yen};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;

    match TenantCode::parse(s) {
        Ok(code) => {
            assert_eq!(code.as_str(), s.trim_ascii());
            assert_eq!(TenantCode::parse(code.as_str()), Ok(code));
            assert_eq!(
                TenantCode::from_five_digits(code.as_five_digits()),
                Ok(code)
            );
            assert_eq!(
                code.prefecture().code(),
                code.as_str()[..2].parse::<u8>().expect("digits")
            );
        }
        Err(e) => format_error(&e),
    }

    match ResidentCode::parse(s) {
        Ok(code) => {
            assert_eq!(code.as_str(), s.trim_ascii());
            assert_eq!(ResidentCode::parse(code.as_str()), Ok(code));
            assert_eq!(
                ResidentCode::from_ten_digits(&code.as_str()[..10]),
                Ok(code)
            );
            assert_eq!(format!("{code:?}"), "ResidentCode(****)");
        }
        Err(e) => {
            format_error(&e);
            assert_withheld(s, &e);
        }
    }

    match IndividualNumber::parse(s) {
        Ok(number) => {
            assert_eq!(number.as_str(), s.trim_ascii());
            assert_eq!(IndividualNumber::parse(number.as_str()), Ok(number));
            assert_eq!(
                IndividualNumber::from_eleven_digits(&number.as_str()[..11]),
                Ok(number)
            );
            assert_eq!(format!("{number:?}"), "IndividualNumber(****)");
        }
        Err(e) => {
            format_error(&e);
            assert_withheld(s, &e);
        }
    }

    match WarekiDate::parse(s) {
        Ok(w) => {
            assert_eq!(WarekiDate::parse(&w.to_string()), Ok(w), "{w}");
            assert_eq!(
                WarekiDate::new(w.era(), w.year(), w.month(), w.day()),
                Ok(w)
            );
            assert_eq!(WarekiDate::from_gregorian(w.to_gregorian()), Some(w));
            if let Some(compact) = w.to_compact() {
                assert_eq!(WarekiDate::parse(&compact), Ok(w), "{compact}");
            }
            let letter = format!("{}{}.{}.{}", w.era().letter(), w.year(), w.month(), w.day());
            assert_eq!(WarekiDate::parse(&letter), Ok(w), "{letter}");
        }
        Err(e) => format_error(&e),
    }

    match Yen::parse(s) {
        Ok(yen) => {
            assert_eq!(Yen::parse(&yen.to_string()), Ok(yen), "{yen}");
            assert_eq!(Yen::parse(&yen.amount().to_string()), Ok(yen));
        }
        Err(e) => format_error(&e),
    }
});

fn format_error(e: &CodeError) {
    let _ = e.to_string();
    let _ = format!("{e:?}");
}

/// Errors about sensitive codes must not repeat a run of six or more digits
/// from the input. (The offending character is shown, `Debug`-escaped; an
/// escape such as `'\u{100000}'` is not a leak, so escapes are dropped first.)
fn assert_withheld(input: &str, e: &CodeError) {
    let shown = without_unicode_escapes(&format!("{e} {e:?}"));
    for run in input.split(|c: char| !c.is_ascii_digit()) {
        if run.len() >= 6 {
            assert!(
                !shown.contains(run),
                "error shows the digits {run}: {shown}"
            );
        }
    }
}

fn without_unicode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("\\u{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        match after.find('}') {
            Some(end) if after[..end].bytes().all(|b| b.is_ascii_hexdigit()) => {
                out.push('?');
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[start..start + 3]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
