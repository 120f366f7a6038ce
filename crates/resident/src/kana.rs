//! Normalisation for search: kana and names are compared in a form that
//! ignores the differences a clerk should not have to type exactly.

/// The search form of a フリガナ (標準仕様書 §2.1.2): katakana, large kana, no spaces, and
/// none of the differences the standard says a search ignores — 濁音・半濁音 and 清音
/// (`ヤマダ` = `ヤマタ`, `パ` = `ハ`), a long-vowel mark or hyphen or none (`ルーシー` =
/// `ルシ`), and ウ, オ or a long-vowel mark after an オ段 kana (`コウノ` = `コオノ` =
/// `コーノ`). `ﾔﾏﾀﾞ` / `やまだ` /
/// `ヤマダ` → `ヤマタ`; `ショウ` matches `シヨウ`. Used only for search; the record keeps
/// the フリガナ as written.
pub fn normalize_kana(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in kana_forms(s).chars() {
        let c = unvoiced(c);
        let after_o_row = out.chars().next_back().is_some_and(is_o_row);
        if (c == 'オ' || is_long_mark(c)) && after_o_row {
            // コウ, コオ, コー: one sound, written three ways.
            out.push('ウ');
        } else if !is_long_mark(c) {
            out.push(c);
        }
    }
    out
}

/// Katakana, large kana, half-width folded, without spaces and 中点.
fn kana_forms(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // Half-width katakana with a following (han)dakuten.
        if let Some(full) = halfwidth(c) {
            let next = chars.get(i + 1).copied();
            let combined = match next {
                Some('\u{FF9E}') => voiced(full),
                Some('\u{FF9F}') => semi_voiced(full),
                _ => None,
            };
            match combined {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => {
                    out.push(full);
                    i += 1;
                }
            }
            continue;
        }
        let c = match c {
            // Hiragana → katakana.
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        };
        let c = large(c);
        if !c.is_whitespace() && c != '・' {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Small kana → large (ァ→ア, ッ→ツ, ャ→ヤ …), as the register's フリガナ
/// is often recorded either way.
fn large(c: char) -> char {
    match c {
        'ァ' => 'ア',
        'ィ' => 'イ',
        'ゥ' => 'ウ',
        'ェ' => 'エ',
        'ォ' => 'オ',
        'ッ' => 'ツ',
        'ャ' => 'ヤ',
        'ュ' => 'ユ',
        'ョ' => 'ヨ',
        'ヮ' => 'ワ',
        'ヵ' => 'カ',
        'ヶ' => 'ケ',
        _ => c,
    }
}

/// 清音 of a 濁音 or 半濁音 (ガ→カ, パ→ハ, ヴ→ウ).
fn unvoiced(c: char) -> char {
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴ";
    const PLAIN: &str = "カキクケコサシスセソタチツテトハヒフヘホハヒフヘホウ";
    VOICED
        .chars()
        .position(|v| v == c)
        .and_then(|i| PLAIN.chars().nth(i))
        .unwrap_or(c)
}

/// 長音記号 and the hyphens and dashes typed for it.
fn is_long_mark(c: char) -> bool {
    matches!(
        c,
        'ー' | 'ｰ' | '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '－' | '〜' | '～'
    )
}

/// An オ段 kana (after [`unvoiced`] and [`large`]).
fn is_o_row(c: char) -> bool {
    "オコソトノホモヨロヲ".contains(c)
}

fn halfwidth(c: char) -> Option<char> {
    const TABLE: &str = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン";
    let code = c as u32;
    if (0xFF66..=0xFF9D).contains(&code) {
        TABLE.chars().nth((code - 0xFF66) as usize)
    } else {
        None
    }
}

fn voiced(c: char) -> Option<char> {
    match c {
        'カ'..='ト' | 'ハ'..='ホ' => char::from_u32(c as u32 + 1),
        'ウ' => Some('ヴ'),
        _ => None,
    }
}

fn semi_voiced(c: char) -> Option<char> {
    match c {
        'ハ'..='ホ' => char::from_u32(c as u32 + 2),
        _ => None,
    }
}

/// Kanji names with common 異体字 folded to one form, IVS selectors and
/// spaces removed: `髙橋` and `高橋`, `齋藤` and `斎藤` and `斉藤` match.
/// Used only for search; the record keeps the exact characters.
pub fn normalize_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !is_variation_selector(*c))
        .map(fold_variant)
        .collect()
}

fn is_variation_selector(c: char) -> bool {
    matches!(c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// A small table of the variants that matter most in names; the full
/// 同定 tables of 文字情報基盤 come with the migration work.
fn fold_variant(c: char) -> char {
    match c {
        '髙' => '高',
        '﨑' | '嵜' => '崎',
        '齋' | '齊' | '斉' => '斎',
        '邉' | '邊' => '辺',
        '澤' => '沢',
        '濱' => '浜',
        '櫻' => '桜',
        '廣' => '広',
        '國' => '国',
        '藏' => '蔵',
        '龍' => '竜',
        '德' => '徳',
        '惠' => '恵',
        '眞' => '真',
        '冨' => '富',
        '塚' => '塚',
        '𠮷' => '吉',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_forms_match() {
        assert_eq!(normalize_kana("やまだ"), normalize_kana("ヤマダ"));
        assert_eq!(normalize_kana("ﾔﾏﾀﾞ ﾀﾛｳ"), normalize_kana("ヤマダタロウ"));
        assert_eq!(normalize_kana("ﾊﾟﾝ"), normalize_kana("パン"));
        assert_eq!(normalize_kana("キョウコ"), normalize_kana("キヨウコ"));
        assert_eq!(normalize_kana("ハットリ"), normalize_kana("ハツトリ"));
    }

    /// 標準仕様書 §2.1.2: what a search ignores.
    #[test]
    fn a_search_ignores_what_the_standard_says() {
        let same = |a: &str, b: &str| assert_eq!(normalize_kana(a), normalize_kana(b), "{a} = {b}");
        // 清音・濁音・半濁音
        same("ヤマダ", "ヤマタ");
        same("ハンダ", "パンタ");
        same("ヴィクトル", "ウイクトル");
        same("ﾊﾞﾝﾊﾟ", "ハンハ");
        // 長音の有無, and the hyphens typed for it
        same("ルーシー", "ルシ");
        same("サトー", "サトウ");
        same("コーノ", "コウノ");
        same("ジョン-スミス", "ジョンスミス");
        same("ルーシー", "ル－シ－");
        same("オーノ", "オオノ");
        // ウ and オ after an オ段 kana
        same("コウノ", "コオノ");
        same("オオノ", "オウノ");
        same("ショウジ", "ショオジ");
        same("ゴトウ", "コトオ");
        // …but not elsewhere: different names stay different.
        let differ =
            |a: &str, b: &str| assert_ne!(normalize_kana(a), normalize_kana(b), "{a} ≠ {b}");
        differ("サトウ", "サイトウ");
        differ("カオリ", "カウリ");
        differ("ウエノ", "オエノ");
        differ("タナカ", "タナベ");
    }

    #[test]
    fn name_variants_match() {
        assert_eq!(normalize_name("髙橋"), normalize_name("高橋"));
        assert_eq!(normalize_name("齋藤"), normalize_name("斉藤"));
        assert_eq!(normalize_name("渡邉 一郎"), "渡辺一郎");
        assert_eq!(normalize_name("葛\u{E0100}城"), "葛城");
    }
}
