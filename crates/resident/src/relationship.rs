//! 世帯主との続柄 as the 標準仕様書 (§1.1.11) and the 住民基本台帳事務処理要領 write it:
//! 「世帯主」; a relation to the 世帯主 in the standard terms, joined with 「の」 up to four
//! links (「妻」「子」「子の妻」「妻の父」「兄の子の子」); 「妻（未届）」「夫（未届）」 for a
//! marriage not registered; 「縁故者」 for a relative whose relation cannot be written so, and
//! 「同居人」 for a person who is not a relative.

/// The 世帯主 of a household.
pub const HEAD: &str = "世帯主";

/// The terms a relation is built of (事務処理要領: 子 for every child, born or adopted).
const TERMS: &[&str] = &[
    "妻",
    "夫",
    "子",
    "父",
    "母",
    "養父",
    "養母",
    "兄",
    "姉",
    "弟",
    "妹",
    "祖父",
    "祖母",
    "曾祖父",
    "曾祖母",
    "孫",
    "曾孫",
    "伯父",
    "伯母",
    "叔父",
    "叔母",
    "甥",
    "姪",
];

/// Whole relations that are not built of terms.
const STANDALONE: &[&str] = &[HEAD, "縁故者", "同居人"];

/// Spouses by a marriage not registered; only as the first link.
const UNREGISTERED: &[&str] = &["妻（未届）", "夫（未届）"];

/// At most this many terms joined with 「の」 (four generations).
const MAX_LINKS: usize = 4;

/// Checks a 続柄 as entered; says in Japanese what is wrong and what to write instead.
pub fn check(relationship: &str) -> Result<(), String> {
    let r = relationship.trim();
    if r.is_empty() {
        return Err("続柄を入力してください".into());
    }
    if STANDALONE.contains(&r) {
        return Ok(());
    }
    let links: Vec<&str> = r.split('の').collect();
    let known = links.len() <= MAX_LINKS
        && links
            .iter()
            .enumerate()
            .all(|(i, link)| TERMS.contains(link) || (i == 0 && UNREGISTERED.contains(link)));
    if known {
        return Ok(());
    }
    let why = if links.len() > MAX_LINKS {
        format!("「の」でつなげるのは{MAX_LINKS}つまでです")
    } else {
        "標準の続柄ではありません".to_string()
    };
    Err(format!(
        "続柄「{r}」は使えません({why})。「世帯主」「妻」「子」「子の妻」「妻の父」のように世帯主から見た続柄を{MAX_LINKS}つまで「の」でつなぎ、婚姻の届出のない配偶者は「妻（未届）」「夫（未届）」、続柄を具体的に書けない親族は「縁故者」、親族でない方は「同居人」と入力してください"
    ))
}

/// The relations offered to staff as they type (a few of the many [`check`] accepts).
pub const SUGGESTED: &[&str] = &[
    HEAD,
    "妻",
    "夫",
    "子",
    "父",
    "母",
    "孫",
    "兄",
    "姉",
    "弟",
    "妹",
    "祖父",
    "祖母",
    "子の妻",
    "子の夫",
    "妻の子",
    "夫の子",
    "妻の父",
    "妻の母",
    "夫の父",
    "夫の母",
    "妻（未届）",
    "夫（未届）",
    "縁故者",
    "同居人",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_are_the_standard_terms_joined_up_to_four_links() {
        for ok in [
            "世帯主",
            "妻",
            "子",
            "子の妻",
            "妻の子",
            "妻の父",
            "兄の子の子",
            "子の子の子の子",
            "妻（未届）",
            "夫（未届）の子",
            " 同居人 ",
            "縁故者",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("長男", "標準の続柄ではありません"),
            ("子の子の子の子の子", "4つまで"),
            ("世帯主の妻", "標準の続柄ではありません"),
            ("子の妻（未届）", "標準の続柄ではありません"),
            ("妻の", "標準の続柄ではありません"),
            ("内縁の妻", "標準の続柄ではありません"),
            ("同居人の子", "標準の続柄ではありません"),
            ("", "続柄を入力してください"),
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(SUGGESTED.iter().all(|s| check(s).is_ok()));
    }
}
