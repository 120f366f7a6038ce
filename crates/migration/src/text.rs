//! Characters in and out of migration files: the two encodings, the
//! per-tenant 外字 table (外字対応表), and the escapes for characters a
//! Shift_JIS file cannot hold.
//!
//! Decoding a field: bytes → Unicode by the file's encoding (CP932's
//! user-defined area F040–F9FC comes out as U+E000–U+E757, the private use
//! area) → every private-use character replaced through the 外字 table →
//! escapes (`&MJ012345;`, `&#x20BB7;`, `&amp;`) resolved. A private-use
//! character or an MJ name the table does not know is an error naming it.
//!
//! Encoding a field for CP932: a character or sequence (base + IVS) the
//! table maps from a legacy code is written back as that code; one CP932
//! holds is written as is; anything else as `&MJnnnnnn;` when the table names
//! its MJ character, else as `&#xHHHH;` per code point. `&` itself is
//! written `&amp;`. UTF-8 files need no escapes but `&amp;`.

use std::collections::HashMap;
use std::fmt::Write as _;

use encoding_rs::SHIFT_JIS;

/// A file's character encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// Windows-31J (CP932): Shift_JIS with the NEC and IBM extensions and the
    /// user-defined area F040–F9FC for 外字.
    #[serde(rename = "cp932")]
    Cp932,
    #[serde(rename = "utf-8")]
    Utf8,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cp932 => "cp932",
            Encoding::Utf8 => "utf-8",
        }
    }

    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "cp932" | "shift-jis" | "sjis" | "windows-31j" | "ms932" => Some(Encoding::Cp932),
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            _ => None,
        }
    }

    /// Guesses from the bytes: valid UTF-8 with some non-ASCII is UTF-8,
    /// anything else CP932 (pure ASCII reads the same either way).
    pub fn detect(sample: &[u8]) -> Encoding {
        // A cut in the middle of a character at the end of the sample is fine.
        let valid = match std::str::from_utf8(sample) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > sample.len(),
        };
        // ASCII is valid UTF-8 and reads the same either way.
        if valid {
            Encoding::Utf8
        } else {
            Encoding::Cp932
        }
    }
}

/// The first private-use code point of CP932's user-defined area.
const PUA_START: u32 = 0xE000;
/// CP932 user-defined area: lead bytes F0–F9, 188 trail bytes each.
const USER_CHARS: u32 = 10 * 188;

/// The CP932 user-defined code (e.g. `0xF040`) of a private-use character,
/// if it is in the area CP932 maps.
pub fn pua_to_sjis(c: char) -> Option<u16> {
    let i = (c as u32).checked_sub(PUA_START)?;
    if i >= USER_CHARS {
        return None;
    }
    let lead = 0xF0 + i / 188;
    let t = i % 188;
    let trail = if t < 0x3F { 0x40 + t } else { 0x41 + t };
    Some(((lead << 8) | trail) as u16)
}

/// The private-use character of a CP932 user-defined code.
pub fn sjis_to_pua(code: u16) -> Option<char> {
    let (lead, trail) = (u32::from(code >> 8), u32::from(code & 0xFF));
    if !(0xF0..=0xF9).contains(&lead) || !(0x40..=0xFC).contains(&trail) || trail == 0x7F {
        return None;
    }
    let t = if trail < 0x7F {
        trail - 0x40
    } else {
        trail - 0x41
    };
    char::from_u32(PUA_START + (lead - 0xF0) * 188 + t)
}

fn is_private_use(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

fn is_variation_selector(c: char) -> bool {
    matches!(c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// One row of the 外字対応表.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GaijiEntry {
    /// The legacy code as a private-use character (CP932 F040 = U+E000);
    /// `None` for a row that only names an MJ character for `&MJ…;`.
    pub code: Option<char>,
    /// 文字情報基盤 name, e.g. `MJ012345`, if identified.
    pub mj: Option<String>,
    /// The character it is: one Unicode character, or a base character and
    /// an Ideographic Variation Selector.
    pub ucs: String,
    /// 備考 (e.g. the 同定 decision).
    pub note: String,
}

impl GaijiEntry {
    /// How the code is written in the table: `F040` in CP932's area, else
    /// `U+E800`.
    pub fn code_label(&self) -> String {
        match self.code {
            Some(c) => match pua_to_sjis(c) {
                Some(s) => format!("{s:04X}"),
                None => format!("U+{:04X}", c as u32),
            },
            None => String::new(),
        }
    }
}

/// Writes `U+845B U+E0100`.
pub fn code_points(s: &str) -> String {
    s.chars()
        .map(|c| format!("U+{:04X}", c as u32))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `U+845B U+E0100` (spaces between).
pub fn parse_code_points(s: &str) -> Option<String> {
    let mut out = String::new();
    for part in s.split_whitespace() {
        let hex = part
            .strip_prefix("U+")
            .or_else(|| part.strip_prefix("u+"))?;
        if hex.is_empty() || hex.len() > 6 {
            return None;
        }
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
    }
    (!out.is_empty()).then_some(out)
}

/// Parses a table code: `F040` (CP932 user-defined) or `U+E000`.
pub fn parse_code(s: &str) -> Option<char> {
    let s = s.trim();
    let c = if let Some(hex) = s.strip_prefix("U+").or_else(|| s.strip_prefix("u+")) {
        char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
    } else {
        if s.len() != 4 {
            return None;
        }
        sjis_to_pua(u16::from_str_radix(s, 16).ok()?)?
    };
    is_private_use(c).then_some(c)
}

/// A municipality's 外字対応表: legacy codes and MJ names → characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GaijiTable {
    entries: Vec<GaijiEntry>,
    by_code: HashMap<char, usize>,
    by_mj: HashMap<String, usize>,
    /// Target string → entry, for writing back.
    by_ucs: HashMap<String, usize>,
    /// Longest target in chars (1 or 2).
    longest: usize,
}

/// Why a 外字 table is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("外字コード {0} appears twice in the 外字対応表")]
    DuplicateCode(String),
    #[error("{0} appears twice in the 外字対応表")]
    DuplicateMj(String),
    #[error(
        "the 外字対応表 maps two codes to the same character {0}: keep one row per character so that exports are unambiguous"
    )]
    DuplicateTarget(String),
    #[error("a row of the 外字対応表 has neither a 外字コード nor an MJ name")]
    Empty,
    #[error(
        "対応文字 {0:?} must be one character, optionally followed by one variation selector, and not private-use"
    )]
    BadTarget(String),
}

impl GaijiTable {
    pub fn new(mut entries: Vec<GaijiEntry>) -> Result<GaijiTable, TableError> {
        entries.sort_by(|a, b| (a.code, &a.mj).cmp(&(b.code, &b.mj)));
        let mut t = GaijiTable::default();
        for (i, e) in entries.iter().enumerate() {
            let chars: Vec<char> = e.ucs.chars().collect();
            let ok = match chars.as_slice() {
                [c] => !is_private_use(*c) && !is_variation_selector(*c),
                [c, vs] => {
                    !is_private_use(*c) && !is_variation_selector(*c) && is_variation_selector(*vs)
                }
                _ => false,
            };
            if !ok {
                return Err(TableError::BadTarget(e.ucs.clone()));
            }
            if e.code.is_none() && e.mj.is_none() {
                return Err(TableError::Empty);
            }
            if let Some(c) = e.code {
                if t.by_code.insert(c, i).is_some() {
                    return Err(TableError::DuplicateCode(e.code_label()));
                }
            }
            if let Some(mj) = &e.mj {
                if t.by_mj.insert(mj.clone(), i).is_some() {
                    return Err(TableError::DuplicateMj(mj.clone()));
                }
            }
            if t.by_ucs.insert(e.ucs.clone(), i).is_some() {
                return Err(TableError::DuplicateTarget(code_points(&e.ucs)));
            }
            t.longest = t.longest.max(chars.len());
        }
        t.entries = entries;
        Ok(t)
    }

    pub fn entries(&self) -> &[GaijiEntry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn by_code(&self, c: char) -> Option<&GaijiEntry> {
        self.by_code.get(&c).map(|&i| &self.entries[i])
    }

    pub fn by_mj(&self, mj: &str) -> Option<&GaijiEntry> {
        self.by_mj.get(mj).map(|&i| &self.entries[i])
    }

    fn by_ucs(&self, s: &str) -> Option<&GaijiEntry> {
        self.by_ucs.get(s).map(|&i| &self.entries[i])
    }
}

/// What was wrong with the text of one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextProblem {
    /// Bytes that are not valid in the file's encoding.
    Malformed,
    /// A legacy 外字 code the table does not map.
    Unmapped(char),
    /// An `&MJ…;` escape the table does not name.
    UnknownMj(String),
    /// An `&` that starts no valid escape.
    BadEscape(String),
    /// A control character (tab, line break …) inside a field.
    Control(char),
}

impl TextProblem {
    pub fn reason(&self) -> String {
        match self {
            TextProblem::Malformed => {
                "bytes that are not valid in the file's encoding (a character cut by the field boundary, or the wrong --encoding)".into()
            }
            TextProblem::Unmapped(c) => {
                let code = match pua_to_sjis(*c) {
                    Some(s) => format!("{s:04X} (U+{:04X})", *c as u32),
                    None => format!("U+{:04X}", *c as u32),
                };
                format!("外字 {code} is not in the 外字対応表 (gaiji.csv): add a row identifying it (同定)")
            }
            TextProblem::UnknownMj(mj) => format!(
                "&{mj}; names an MJ character the 外字対応表 does not list: add a row with its MJ name and character"
            ),
            TextProblem::BadEscape(s) => format!(
                "{s:?} is not a valid escape: write & as &amp;, a character as &#xHHHH; or &MJnnnnnn;"
            ),
            TextProblem::Control(c) => format!(
                "control character U+{:04X} inside a field",
                *c as u32
            ),
        }
    }
}

/// Decodes one field's bytes (already cut from the line, padding included).
pub fn decode_field(
    bytes: &[u8],
    encoding: Encoding,
    table: &GaijiTable,
) -> Result<String, TextProblem> {
    let raw: std::borrow::Cow<'_, str> = match encoding {
        Encoding::Utf8 => std::str::from_utf8(bytes)
            .map_err(|_| TextProblem::Malformed)?
            .into(),
        Encoding::Cp932 => {
            if bytes.is_ascii() {
                // ASCII is ASCII in CP932 (0x5C is a backslash, as WHATWG has it).
                std::str::from_utf8(bytes)
                    .map_err(|_| TextProblem::Malformed)?
                    .into()
            } else {
                SHIFT_JIS
                    .decode_without_bom_handling_and_without_replacement(bytes)
                    .ok_or(TextProblem::Malformed)?
            }
        }
    };
    let trimmed = raw.trim_end_matches([' ', '\u{3000}']);
    if trimmed.is_ascii() && !trimmed.contains('&') {
        if let Some(c) = trimmed.chars().find(|c| c.is_control()) {
            return Err(TextProblem::Control(c));
        }
        return Ok(trimmed.to_string());
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut rest = trimmed;
    while let Some(c) = rest.chars().next() {
        if c == '&' {
            let end = rest
                .find(';')
                .ok_or_else(|| TextProblem::BadEscape(rest.chars().take(12).collect::<String>()))?;
            let body = &rest[1..end];
            if body == "amp" {
                out.push('&');
            } else if let Some(hex) = body.strip_prefix("#x") {
                let ch = (1..=6)
                    .contains(&hex.len())
                    .then(|| u32::from_str_radix(hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .filter(|c| !c.is_control() && !is_private_use(*c))
                    .ok_or_else(|| TextProblem::BadEscape(rest[..=end].to_string()))?;
                out.push(ch);
            } else if body.starts_with("MJ")
                && body.len() == 8
                && body[2..].bytes().all(|b| b.is_ascii_digit())
            {
                let e = table
                    .by_mj(body)
                    .ok_or_else(|| TextProblem::UnknownMj(body.to_string()))?;
                out.push_str(&e.ucs);
            } else {
                return Err(TextProblem::BadEscape(rest[..=end].to_string()));
            }
            rest = &rest[end + 1..];
            continue;
        }
        if is_private_use(c) {
            let e = table.by_code(c).ok_or(TextProblem::Unmapped(c))?;
            out.push_str(&e.ucs);
        } else if c.is_control() {
            return Err(TextProblem::Control(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Encodes one field's text (no padding) for a file.
pub fn encode_text(text: &str, encoding: Encoding, table: &GaijiTable, out: &mut Vec<u8>) {
    match encoding {
        Encoding::Utf8 => encode_utf8(text, table, out),
        Encoding::Cp932 => encode_cp932(text, table, out),
    }
}

/// The (base, optional selector) clusters of a text, as byte ranges.
fn clusters(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut iter = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (i, c) = iter.next()?;
        let mut end = i + c.len_utf8();
        if let Some(&(j, vs)) = iter.peek().filter(|(_, n)| is_variation_selector(*n)) {
            iter.next();
            end = j + vs.len_utf8();
        }
        Some((i, end))
    })
}

/// UTF-8: as it is, but `&` as `&amp;` and a character the table maps from
/// a legacy code back as that (private-use) code, so that a field never
/// grows on its way out and back.
fn encode_utf8(text: &str, table: &GaijiTable, out: &mut Vec<u8>) {
    if table.is_empty() && !text.contains('&') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for (i, end) in clusters(text) {
        let cluster = &text[i..end];
        if cluster == "&" {
            out.extend_from_slice(b"&amp;");
        } else if let Some(code) = table.by_ucs(cluster).and_then(|e| e.code) {
            let mut b = [0u8; 4];
            out.extend_from_slice(code.encode_utf8(&mut b).as_bytes());
        } else if cluster.starts_with('&') {
            out.extend_from_slice(b"&amp;");
            out.extend_from_slice(&cluster.as_bytes()[1..]);
        } else {
            out.extend_from_slice(cluster.as_bytes());
        }
    }
}

fn encode_cp932(text: &str, table: &GaijiTable, out: &mut Vec<u8>) {
    if text.is_ascii() && !text.contains('&') {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    let cp932 = cp932_table();
    let mut run_start = 0;
    let mut iter = text.char_indices().peekable();
    // Characters are written in runs; a run ends at a character the table
    // maps, a variation sequence, or an `&`.
    let flush = |run: &str, out: &mut Vec<u8>| {
        for c in run.chars() {
            match cp932.encode(c) {
                Some(Cp932Bytes::One(b)) => out.push(b),
                Some(Cp932Bytes::Two(b)) => out.extend_from_slice(&b),
                None => escape(c, out),
            }
        }
    };
    while let Some((i, c)) = iter.next() {
        let next_vs = iter
            .peek()
            .filter(|(_, n)| is_variation_selector(*n))
            .copied();
        let (cluster_end, special) = match next_vs {
            Some((j, vs)) => (j + vs.len_utf8(), true),
            None => (
                i + c.len_utf8(),
                c == '&'
                    || LOSSY_IN_CP932.contains(&c)
                    || (!c.is_ascii()
                        && !table.is_empty()
                        && table
                            .by_ucs
                            .contains_key(c.encode_utf8(&mut [0; 4]) as &str)),
            ),
        };
        if !special {
            continue;
        }
        flush(&text[run_start..i], out);
        if next_vs.is_some() {
            iter.next();
        }
        let cluster = &text[i..cluster_end];
        if cluster == "&" {
            out.extend_from_slice(b"&amp;");
        } else if let Some(e) = table.by_ucs(cluster) {
            match (e.code.and_then(pua_to_sjis), &e.mj) {
                (Some(code), _) => out.extend_from_slice(&code.to_be_bytes()),
                // The MJ name when it is the shorter escape (an IVS
                // sequence); a single character as its code point.
                (None, Some(mj)) if cluster.chars().count() > 1 => {
                    out.push(b'&');
                    out.extend_from_slice(mj.as_bytes());
                    out.push(b';');
                }
                (None, _) => cluster.chars().for_each(|c| escape(c, out)),
            }
        } else {
            // A variation sequence the table does not know: the base
            // character as it is if CP932 holds it, the selector escaped.
            if LOSSY_IN_CP932.contains(&c) {
                escape(c, out);
            } else if c == '&' {
                out.extend_from_slice(b"&amp;");
            } else {
                flush(&cluster[..c.len_utf8()], out);
            }
            cluster.chars().skip(1).for_each(|c| escape(c, out));
        }
        run_start = cluster_end;
    }
    flush(&text[run_start..], out);
}

/// CP932 bytes of one character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cp932Bytes {
    One(u8),
    Two([u8; 2]),
}

/// The CP932 (WHATWG Shift_JIS) encoder as a table indexed by code point:
/// encoding_rs encodes kanji by searching its index, which was a quarter of
/// an export's time; the table gives the same bytes (tested for every code
/// point) in one lookup. Built once from encoding_rs's own decoder.
struct Cp932Table {
    /// BMP code point → 0 (none), a byte (≤ 0xFF), or two bytes.
    bmp: Vec<u16>,
}

impl Cp932Table {
    fn build() -> Cp932Table {
        let mut bmp = vec![0u16; 0x10000];
        let decode_one = |bytes: &[u8]| {
            let (text, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
            let mut chars = text.chars();
            match (had_errors, chars.next(), chars.next()) {
                (false, Some(c), None) => u16::try_from(u32::from(c)).ok(),
                _ => None,
            }
        };
        for b in 0x80..=0xFFu8 {
            if let Some(cp) = decode_one(&[b]) {
                bmp[usize::from(cp)] = u16::from(b);
            }
        }
        // WHATWG: the encoder takes the first pointer of index jis0208 for a
        // code point, leaving out pointers 8272–8835 (NEC-selected IBM
        // extensions, duplicated later in the index).
        for pointer in 0..11280u16 {
            if (8272..=8835).contains(&pointer) {
                continue;
            }
            let (lead, trail) = (pointer / 188, pointer % 188);
            let lead = lead + if lead < 0x1F { 0x81 } else { 0xC1 };
            let trail = trail + if trail < 0x3F { 0x40 } else { 0x41 };
            let bytes = [lead as u8, trail as u8];
            // The user-defined area (U+E000–U+E757) decodes but does not
            // encode: 外字 go through the municipality's table instead.
            if let Some(cp) = decode_one(&bytes).filter(|cp| !(0xE000..=0xE757).contains(cp)) {
                let slot = &mut bmp[usize::from(cp)];
                if *slot == 0 {
                    *slot = u16::from_be_bytes(bytes);
                }
            }
        }
        // WHATWG's encoder also maps these (lossily: they decode as other
        // characters, so `encode_cp932` escapes them before they get here).
        bmp[0xA5] = 0x5C;
        bmp[0x203E] = 0x7E;
        bmp[0x2212] = bmp[0xFF0D];
        Cp932Table { bmp }
    }

    fn encode(&self, c: char) -> Option<Cp932Bytes> {
        if c.is_ascii() {
            return Some(Cp932Bytes::One(c as u8));
        }
        let v = *self.bmp.get(c as usize)?;
        match v {
            0 => None,
            1..=0xFF => Some(Cp932Bytes::One(v as u8)),
            _ => Some(Cp932Bytes::Two(v.to_be_bytes())),
        }
    }
}

fn cp932_table() -> &'static Cp932Table {
    static TABLE: std::sync::OnceLock<Cp932Table> = std::sync::OnceLock::new();
    TABLE.get_or_init(Cp932Table::build)
}

/// Characters the CP932 encoder maps to bytes that decode as another
/// character (WHATWG: ¥ → 0x5C, ‾ → 0x7E, − → 0x817C): written escaped.
const LOSSY_IN_CP932: [char; 3] = ['\u{A5}', '\u{203E}', '\u{2212}'];

fn escape(c: char, out: &mut Vec<u8>) {
    let mut s = String::new();
    let _ = write!(s, "&#x{:X};", c as u32);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::EncoderResult;

    /// The table gives exactly encoding_rs's bytes, for every code point.
    #[test]
    fn cp932_table_encodes_as_encoding_rs_does() {
        let table = cp932_table();
        let mut encoder = SHIFT_JIS.new_encoder();
        let mut buf = [0u8; 8];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let (result, _, written) = encoder.encode_from_utf8_without_replacement(
                c.encode_utf8(&mut [0; 4]),
                &mut buf,
                true,
            );
            let expected = match (result, written) {
                (EncoderResult::InputEmpty, 1) => Some(Cp932Bytes::One(buf[0])),
                (EncoderResult::InputEmpty, 2) => Some(Cp932Bytes::Two([buf[0], buf[1]])),
                (EncoderResult::Unmappable(_), 0) => None,
                other => panic!("U+{:04X}: unexpected {other:?}", c as u32),
            };
            assert_eq!(table.encode(c), expected, "U+{:04X}", c as u32);
        }
    }

    fn table() -> GaijiTable {
        GaijiTable::new(vec![
            GaijiEntry {
                code: sjis_to_pua(0xF040),
                mj: Some("MJ000001".into()),
                ucs: "𠮷".into(),
                note: "つちよし".into(),
            },
            GaijiEntry {
                code: sjis_to_pua(0xF041),
                mj: None,
                ucs: "葛\u{E0100}".into(),
                note: String::new(),
            },
            GaijiEntry {
                code: None,
                mj: Some("MJ000002".into()),
                ucs: "辻\u{E0101}".into(),
                note: String::new(),
            },
        ])
        .expect("table")
    }

    #[test]
    fn user_defined_area_maps_both_ways() {
        assert_eq!(sjis_to_pua(0xF040), Some('\u{E000}'));
        assert_eq!(sjis_to_pua(0xF07E), Some('\u{E03E}'));
        assert_eq!(sjis_to_pua(0xF080), Some('\u{E03F}'));
        assert_eq!(sjis_to_pua(0xF9FC), Some('\u{E757}'));
        assert_eq!(sjis_to_pua(0xF07F), None);
        assert_eq!(sjis_to_pua(0xEFFC), None);
        for i in 0..USER_CHARS {
            let c = char::from_u32(PUA_START + i).expect("char");
            let code = pua_to_sjis(c).expect("in area");
            assert_eq!(sjis_to_pua(code), Some(c));
            // encoding_rs decodes the area the same way.
            let bytes = code.to_be_bytes();
            let (d, _, bad) = SHIFT_JIS.decode(&bytes);
            assert!(!bad);
            assert_eq!(d.chars().next(), Some(c), "{code:04X}");
        }
        assert_eq!(pua_to_sjis('\u{E758}'), None);
    }

    #[test]
    fn cp932_round_trip_with_gaiji_escapes_and_padding() {
        let t = table();
        // (`&` before a variation selector: found by fuzzing.)
        let text = "𠮷田 葛\u{E0100}城 辻\u{E0101} 邉\u{E0102} 髙橋 A&B 𩸽 &\u{E0130}¥\u{FE00}";
        let mut bytes = Vec::new();
        encode_text(text, Encoding::Cp932, &t, &mut bytes);
        let shown = String::from_utf8_lossy(&bytes);
        assert!(shown.contains("&MJ000002;"), "{shown}");
        assert!(shown.contains("&#xE0102;"), "{shown}");
        assert!(shown.contains("&#x29E3D;"), "{shown}");
        assert!(shown.contains("A&amp;B"), "{shown}");
        assert_eq!(&bytes[..2], &[0xF0, 0x40]);
        bytes.extend_from_slice(b"    ");
        assert_eq!(
            decode_field(&bytes, Encoding::Cp932, &t).as_deref(),
            Ok(text)
        );
    }

    #[test]
    fn utf8_round_trip() {
        let t = table();
        let text = "𠮷田 A&B &amp; 葛\u{E0100}";
        let mut bytes = Vec::new();
        encode_text(text, Encoding::Utf8, &t, &mut bytes);
        assert_eq!(
            decode_field(&bytes, Encoding::Utf8, &t).as_deref(),
            Ok(text)
        );
        // Legacy private-use code points in a UTF-8 file go through the table.
        assert_eq!(
            decode_field("\u{E000}田".as_bytes(), Encoding::Utf8, &t).as_deref(),
            Ok("𠮷田")
        );
    }

    #[test]
    fn problems_are_named() {
        let t = table();
        assert_eq!(
            decode_field(&[0xF0, 0x42], Encoding::Cp932, &t),
            Err(TextProblem::Unmapped('\u{E002}'))
        );
        assert!(TextProblem::Unmapped('\u{E002}').reason().contains("F042"));
        assert_eq!(
            decode_field(b"&MJ999999;", Encoding::Cp932, &t),
            Err(TextProblem::UnknownMj("MJ999999".into()))
        );
        assert!(matches!(
            decode_field(b"A&B", Encoding::Utf8, &t),
            Err(TextProblem::BadEscape(_))
        ));
        assert!(matches!(
            decode_field(b"&#xD800;", Encoding::Utf8, &t),
            Err(TextProblem::BadEscape(_))
        ));
        assert_eq!(
            decode_field(&[0x82], Encoding::Cp932, &t),
            Err(TextProblem::Malformed)
        );
        assert_eq!(
            decode_field(b"a\tb", Encoding::Utf8, &t),
            Err(TextProblem::Control('\t'))
        );
    }

    #[test]
    fn table_refuses_ambiguity() {
        let dup = |a: &str, b: &str| {
            GaijiTable::new(vec![
                GaijiEntry {
                    code: parse_code(a),
                    mj: None,
                    ucs: "𠮷".into(),
                    note: String::new(),
                },
                GaijiEntry {
                    code: parse_code(b),
                    mj: None,
                    ucs: "𠮷".into(),
                    note: String::new(),
                },
            ])
        };
        assert!(matches!(
            dup("F040", "F040"),
            Err(TableError::DuplicateCode(_))
        ));
        assert!(matches!(
            dup("F040", "F041"),
            Err(TableError::DuplicateTarget(_))
        ));
        assert_eq!(parse_code("U+E000"), Some('\u{E000}'));
        assert_eq!(parse_code("8140"), None);
        assert_eq!(
            parse_code_points("U+845B U+E0100").as_deref(),
            Some("葛\u{E0100}")
        );
    }

    #[test]
    fn the_lossy_list_is_complete() {
        let mut lossy = vec![];
        for c in (0..0x10000u32).filter_map(char::from_u32) {
            let s = c.to_string();
            let (b, _, unmappable) = SHIFT_JIS.encode(&s);
            if !unmappable && SHIFT_JIS.decode(&b).0 != s {
                lossy.push(c);
            }
        }
        assert_eq!(lossy, LOSSY_IN_CP932);
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(Encoding::detect("山田".as_bytes()), Encoding::Utf8);
        let (sjis, _, _) = SHIFT_JIS.encode("山田");
        assert_eq!(Encoding::detect(&sjis), Encoding::Cp932);
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips(s in "\\PC{0,40}") {
            let t = table();
            // Private-use characters and control characters are not text.
            let s: String = s.chars().filter(|c| !is_private_use(*c) && !c.is_control()).collect();
            let s = s.trim_end_matches([' ', '\u{3000}']).to_string();
            for enc in [Encoding::Cp932, Encoding::Utf8] {
                let mut b = Vec::new();
                encode_text(&s, enc, &t, &mut b);
                proptest::prop_assert_eq!(decode_field(&b, enc, &t), Ok(s.clone()));
            }
        }
    }
}
