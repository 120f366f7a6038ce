//! Reading fixed-length digit codes: the checks every code type makes before its own
//! check-digit rule (trim, non-empty, half-width digits only, length).

use crate::error::{CodeError, CodeKind, ShownInput};

/// Trims ASCII whitespace and checks that what is left is non-empty and all ASCII digits.
/// Returns the trimmed digits; their count is not checked here.
pub(crate) fn scan(kind: CodeKind, raw: &str) -> Result<&str, CodeError> {
    let trimmed = raw.trim_ascii();
    if trimmed.is_empty() {
        return Err(CodeError::Empty { kind });
    }
    if let Some((index, found)) = trimmed
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        return Err(CodeError::NotADigit {
            kind,
            input: ShownInput::new(kind, trimmed),
            position: index + 1,
            found,
        });
    }
    Ok(trimmed)
}

/// Scans `raw` and checks it has exactly `N` digits; `hint` explains what to do otherwise.
pub(crate) fn exactly<const N: usize>(
    kind: CodeKind,
    raw: &str,
    hint: impl FnOnce(&str) -> String,
) -> Result<[u8; N], CodeError> {
    let digits = scan(kind, raw)?;
    match <[u8; N]>::try_from(digits.as_bytes()) {
        Ok(array) => Ok(array),
        Err(_) => Err(CodeError::WrongLength {
            kind,
            input: ShownInput::new(kind, digits),
            got: digits.len(),
            expected: N,
            hint: hint(digits),
        }),
    }
}

/// The value of an ASCII digit.
pub(crate) const fn value(ascii_digit: u8) -> u32 {
    ascii_digit.wrapping_sub(b'0') as u32
}

/// The ASCII digit for a value 0–9.
pub(crate) const fn ascii(value: u8) -> u8 {
    b'0' + value % 10
}

/// The `&str` view of bytes that are known to be ASCII digits.
pub(crate) fn as_str(ascii_digits: &[u8]) -> &str {
    // Every constructor stores ASCII digits only, so this never takes the fallback; an
    // empty string is returned rather than panicking if that invariant were ever broken.
    std::str::from_utf8(ascii_digits).unwrap_or_default()
}
