//! Per-tenant settings, resolved in tiers 標準 → 県版 → 個別.
//!
//! The standard tier is the table [`REGISTRY`] below: the national standard
//! value of each setting, or none where every municipality must set its own
//! (a 市区町村長's name is never hard-coded). A prefecture tier value
//! overrides the standard for all municipalities of that prefecture; a
//! municipal value overrides both.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;

/// Where a resolved value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 標準
    Standard,
    /// 県版
    Prefecture,
    /// 個別
    Municipal,
}

impl Tier {
    pub fn label_ja(self) -> &'static str {
        match self {
            Tier::Standard => "標準",
            Tier::Prefecture => "県版",
            Tier::Municipal => "個別",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    Text {
        max_chars: usize,
    },
    Integer {
        min: i64,
        max: i64,
    },
    /// A day of the year as `MM-DD` (e.g. a 納期限).
    MonthDay,
    /// A web address people open (`https://…`, or `http://` for a closed network), printable
    /// ASCII without `#`, e.g. the verification page a certificate's QR code links to.
    WebAddress {
        max_chars: usize,
    },
    /// A percentage with up to two decimals, 0 to 100 (e.g. `1.4` for 1.4 %).
    Percent,
    /// A range of 住民票コード bodies (the ten digits before the 検査数字), as
    /// `FIRST-LAST`, e.g. `1234500000-1234599999`.
    CodeRange,
}

/// The bounds of a [`SettingKind::CodeRange`] value (already validated).
pub fn code_range(value: &str) -> Option<(u64, u64)> {
    let (a, b) = value.split_once('-')?;
    let ten = |s: &str| {
        (s.len() == 10 && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (first, last) = (ten(a)?, ten(b)?);
    (first <= last).then_some((first, last))
}

/// One known setting.
#[derive(Debug)]
pub struct SettingDef {
    pub key: &'static str,
    pub kind: SettingKind,
    /// The 標準 value; `None` means each municipality must set it.
    pub standard: Option<&'static str>,
    /// 標準 values that change by date (a national rate set every year): `(YYYY-MM-DD, value)`
    /// in date order, each in force from its date until the next; before the first,
    /// [`standard`](Self::standard). A new year's value is added here in a release.
    pub dated_standard: &'static [(&'static str, &'static str)],
    pub label_ja: &'static str,
    /// Who may set the municipal (個別) value.
    pub set_by: SetBy,
}

/// Who may set a setting's municipal (個別) value. 県版 values are always the platform
/// operator's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetBy {
    /// The municipality's 団体管理者 (and the platform operator).
    Municipality,
    /// Only the platform operator: limits that protect the other municipalities on the
    /// platform (quotas), which a municipality must not raise for itself.
    Platform,
}

impl SettingDef {
    /// The 標準 value in force on `date`.
    pub fn standard_on(&self, date: NaiveDate) -> Option<&'static str> {
        self.dated_standard
            .iter()
            .rev()
            .find(|(from, _)| {
                NaiveDate::parse_from_str(from, "%Y-%m-%d").is_ok_and(|from| from <= date)
            })
            .map(|(_, v)| *v)
            .or(self.standard)
    }
}

/// Every setting the platform knows. A key not listed here is refused, so a
/// typo never silently creates a setting nobody reads.
pub static REGISTRY: &[SettingDef] = &[
    SettingDef {
        key: "certificate.issuer_title",
        kind: SettingKind::Text { max_chars: 40 },
        standard: None,
        dated_standard: &[],
        label_ja: "証明書の発行者職名(例: 深川市長)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "certificate.issuer_name",
        kind: SettingKind::Text { max_chars: 40 },
        standard: None,
        dated_standard: &[],
        label_ja: "証明書の発行者氏名",
        set_by: SetBy::Municipality,
    },
    // 職務代理者 (標準仕様書 §1.3.9/M2): while both are in force, certificates are certified in
    // the deputy's name instead of the 市区町村長's. Set them with the 適用開始日 of the
    // 代理, and clear them with the day after it ends: the switch is by date, on its own.
    SettingDef {
        key: "certificate.deputy_title",
        kind: SettingKind::Text { max_chars: 60 },
        standard: None,
        dated_standard: &[],
        label_ja: "職務代理者の職名(設定の間は証明書の認証者。例: 深川市長職務代理者 深川市副市長)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "certificate.deputy_name",
        kind: SettingKind::Text { max_chars: 40 },
        standard: None,
        dated_standard: &[],
        label_ja: "職務代理者の氏名",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "certificate.verify_url",
        kind: SettingKind::WebAddress { max_chars: 120 },
        // Every node that issues for the municipality (the centre, a fallback site) prints
        // the same link, so it is the municipality's setting, not a node's address. Unset:
        // the QR code holds the verification code alone.
        standard: None,
        dated_standard: &[],
        label_ja: "証明書のQRコードが開く検証ページのURL(例: https://murakumo.example.jp/verify)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "certificate.fee_yen.resident_copy",
        kind: SettingKind::Integer {
            min: 0,
            max: 10_000,
        },
        standard: Some("300"),
        dated_standard: &[],
        label_ja: "住民票の写し 手数料(円)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "certificate.fee_yen.seal",
        kind: SettingKind::Integer {
            min: 0,
            max: 10_000,
        },
        standard: Some("300"),
        dated_standard: &[],
        label_ja: "印鑑登録証明書 手数料(円)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "resident.notification_deadline_days",
        kind: SettingKind::Integer { min: 1, max: 365 },
        // 住民基本台帳法 第22条ほか: 届出は異動日から14日以内.
        standard: Some("14"),
        dated_standard: &[],
        label_ja: "届出期限(日)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "tax.late_fee.special_base_rate",
        kind: SettingKind::Percent,
        // 延滞金特例基準割合 (地方税法附則第3条の2): the 平均貸付割合 the 財務大臣 announces
        // each year, plus 1 %, in force for the calendar year. 令和6年 and 令和7年: 1.4 %.
        standard: None,
        dated_standard: &[("2024-01-01", "1.4"), ("2025-01-01", "1.4")],
        label_ja: "延滞金特例基準割合(%、暦年ごと)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "tax.light_vehicle.due_date",
        kind: SettingKind::MonthDay,
        standard: Some("05-31"),
        dated_standard: &[],
        label_ja: "軽自動車税 納期限",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "tax.resident_tax.installments",
        kind: SettingKind::Integer { min: 1, max: 12 },
        standard: Some("4"),
        dated_standard: &[],
        label_ja: "個人住民税 普通徴収 期数",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "resident.code_range",
        kind: SettingKind::CodeRange,
        // 都道府県知事が市町村ごとに指定する住民票コードの範囲 (住民基本台帳法 第30条の3).
        standard: None,
        dated_standard: &[],
        label_ja: "出生等で記載する住民票コードの範囲(都道府県から指定された範囲。例: 1234500000-1234599999)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "session.idle_timeout_minutes",
        kind: SettingKind::Integer { min: 5, max: 480 },
        standard: Some("30"),
        dated_standard: &[],
        label_ja: "無操作でログアウトするまでの時間(分)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "session.max_lifetime_hours",
        kind: SettingKind::Integer { min: 1, max: 24 },
        // A stolen or forgotten session ends the same day however busy it is kept.
        standard: Some("10"),
        dated_standard: &[],
        label_ja: "ログインから必ずログアウトするまでの時間(時間)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "login.max_failures",
        kind: SettingKind::Integer { min: 3, max: 20 },
        standard: Some("5"),
        dated_standard: &[],
        label_ja: "ログイン失敗の上限回数",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "login.lockout_minutes",
        kind: SettingKind::Integer { min: 1, max: 1440 },
        standard: Some("15"),
        dated_standard: &[],
        label_ja: "ログイン失敗後のロック時間(分)",
        set_by: SetBy::Municipality,
    },
    SettingDef {
        key: "platform.requests_per_second",
        kind: SettingKind::Integer {
            min: 1,
            max: 10_000,
        },
        // A counter clerk sends a request every few seconds; a city of 270,000 with a hundred
        // clerks at work stays far below this, and a burst of twice as many is let through.
        // Past it a staff request is refused (429) so that one municipality's runaway script
        // cannot slow the others on the same node.
        standard: Some("100"),
        dated_standard: &[],
        label_ja: "職員の要求の上限(1秒あたり・ノードごと。基盤運用者が設定)",
        set_by: SetBy::Platform,
    },
    SettingDef {
        key: "platform.concurrent_batches",
        kind: SettingKind::Integer { min: 1, max: 16 },
        // Whole-chain work started through the server (検証, 再構築): each reads every entry
        // of the municipality, so a few at once are enough.
        standard: Some("2"),
        dated_standard: &[],
        label_ja: "同時に実行できる一括処理(台帳の検証・再構築)の数(ノードごと。基盤運用者が設定)",
        set_by: SetBy::Platform,
    },
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingError {
    #[error("設定 {key:?} はありません。設定できる項目: {known}")]
    Unknown { key: String, known: String },
    #[error("設定 {key} の値 {value:?} は使えません: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

pub fn find(key: &str) -> Result<&'static SettingDef, SettingError> {
    REGISTRY
        .iter()
        .find(|d| d.key == key)
        .ok_or_else(|| SettingError::Unknown {
            key: key.to_string(),
            known: REGISTRY
                .iter()
                .map(|d| d.key)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl SettingDef {
    /// Checks and normalises a value for this setting.
    pub fn validate(&self, value: &str) -> Result<String, SettingError> {
        let v = value.trim();
        let invalid = |reason: String| SettingError::Invalid {
            key: self.key.to_string(),
            value: value.to_string(),
            reason,
        };
        match self.kind {
            SettingKind::Text { max_chars } => {
                let n = v.chars().count();
                if n == 0 || n > max_chars {
                    return Err(invalid(format!("1〜{max_chars}文字で入力してください")));
                }
                if v.chars().any(char::is_control) {
                    return Err(invalid("制御文字は使えません".into()));
                }
                Ok(v.to_string())
            }
            SettingKind::Integer { min, max } => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                _ => Err(invalid(format!("{min}から{max}までの整数を入力してください"))),
            },
            SettingKind::WebAddress { max_chars } => {
                let scheme = v.starts_with("https://") || v.starts_with("http://");
                let plain = v.bytes().all(|b| b.is_ascii_graphic()) && !v.contains(['#', '|']);
                if scheme && plain && v.len() <= max_chars {
                    Ok(v.to_string())
                } else {
                    Err(invalid(format!(
                        "https:// で始まるURLを、半角英数字と記号だけで{max_chars}文字以内で入力してください(「#」「|」は使えません。例: https://murakumo.example.jp/verify)"
                    )))
                }
            }
            SettingKind::Percent => {
                let (whole, decimals) = v.split_once('.').unwrap_or((v, "0"));
                let digits = |t: &str, len: std::ops::RangeInclusive<usize>| {
                    len.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
                };
                let in_range = match whole.parse::<u32>() {
                    Ok(w) if w < 100 => true,
                    Ok(100) => decimals.bytes().all(|b| b == b'0'),
                    _ => false,
                };
                if digits(whole, 1..=3) && digits(decimals, 1..=2) && in_range {
                    Ok(v.to_string())
                } else {
                    Err(invalid(
                        "0〜100 の数を、小数点以下2桁までの半角数字で入力してください(例: 1.4)".into(),
                    ))
                }
            }
            SettingKind::CodeRange => code_range(v).map(|_| v.to_string()).ok_or_else(|| {
                invalid("最初と最後の10桁(検査数字を除く)を「最初-最後」の形で入力してください(例: 1234500000-1234599999)".into())
            }),
            SettingKind::MonthDay => {
                let parsed = v.split_once('-').and_then(|(m, d)| {
                    let (m, d) = (m.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
                    // 2024 is a leap year, so 02-29 is accepted.
                    chrono::NaiveDate::from_ymd_opt(2024, m, d).map(|_| format!("{m:02}-{d:02}"))
                });
                parsed.ok_or_else(|| invalid("月日を「MM-DD」の形で入力してください(例: 05-31)".into()))
            }
        }
    }
}

/// A setting's effective value and the tier that supplied it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedSetting {
    pub key: &'static str,
    pub label_ja: &'static str,
    pub value: Option<String>,
    pub tier: Tier,
}

impl fmt::Display for ResolvedSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} ({})",
            self.key,
            self.value.as_deref().unwrap_or("(未設定)"),
            self.tier.label_ja()
        )
    }
}

/// Resolves one setting on `date`: 個別 over 県版 over 標準 (the 標準 in force that day).
pub fn resolve(
    def: &'static SettingDef,
    prefecture: Option<&str>,
    municipal: Option<&str>,
    date: NaiveDate,
) -> ResolvedSetting {
    let (value, tier) = match (municipal, prefecture) {
        (Some(m), _) => (Some(m.to_string()), Tier::Municipal),
        (None, Some(p)) => (Some(p.to_string()), Tier::Prefecture),
        (None, None) => (def.standard_on(date).map(str::to_string), Tier::Standard),
    };
    ResolvedSetting {
        key: def.key,
        label_ja: def.label_ja,
        value,
        tier,
    }
}

/// Resolves every known setting on `date` given the prefecture and municipal values.
pub fn resolve_all<'a>(
    prefecture: impl Fn(&str) -> Option<&'a str>,
    municipal: impl Fn(&str) -> Option<&'a str>,
    date: NaiveDate,
) -> Vec<ResolvedSetting> {
    REGISTRY
        .iter()
        .map(|d| resolve(d, prefecture(d.key), municipal(d.key), date))
        .collect()
}

/// One recorded change of a municipal (個別) value: in force from `from` (its 適用開始日).
pub struct DatedValue<'a> {
    pub key: &'a str,
    /// `None`: the municipal value is removed (the 県版 or 標準 applies again).
    pub value: Option<&'a str>,
    pub from: NaiveDate,
}

/// The municipal values in force on `date`, from the changes in the order they were recorded:
/// for each key, the change with the latest 適用開始日 not after `date` (of two with one date,
/// the later recorded). A change dated after `date` is not yet in force; one dated before an
/// earlier-recorded change replaces it only from its own date on.
pub fn in_force<'a>(
    changes: impl IntoIterator<Item = DatedValue<'a>>,
    date: NaiveDate,
) -> HashMap<&'a str, &'a str> {
    let mut latest: HashMap<&str, (NaiveDate, Option<&str>)> = HashMap::new();
    for c in changes {
        if c.from > date {
            continue;
        }
        match latest.get(c.key) {
            Some((from, _)) if *from > c.from => {}
            _ => {
                latest.insert(c.key, (c.from, c.value));
            }
        }
    }
    latest
        .into_iter()
        .filter_map(|(k, (_, v))| v.map(|v| (k, v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn day() -> NaiveDate {
        date(2026, 12, 4)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn a_national_rate_is_the_one_in_force_on_the_day() {
        let rate = find("tax.late_fee.special_base_rate").expect("known");
        assert_eq!(
            rate.standard_on(date(2023, 12, 31)),
            None,
            "before the table"
        );
        assert_eq!(rate.standard_on(date(2024, 1, 1)), Some("1.4"));
        assert_eq!(rate.standard_on(date(2025, 6, 30)), Some("1.4"));
        let resolved = resolve(rate, None, None, date(2025, 6, 30));
        assert_eq!(
            (resolved.value.as_deref(), resolved.tier),
            (Some("1.4"), Tier::Standard)
        );
        assert_eq!(rate.validate("1.45"), Ok("1.45".into()));
        assert!(rate.validate("1,4").is_err() && rate.validate("101").is_err());
    }

    #[test]
    fn a_municipal_value_is_in_force_from_its_date_until_a_later_one() {
        let change = |key, value, from| DatedValue { key, value, from };
        // Recorded in this order: a fee of 300 from 2025-04-01, then 350 decided in November
        // for the next 年度, then the 300 corrected to 320 from 2025-10-01.
        let history = || {
            vec![
                change("fee", Some("300"), date(2025, 4, 1)),
                change("fee", Some("350"), date(2026, 4, 1)),
                change("fee", Some("320"), date(2025, 10, 1)),
                change("title", Some("市長"), date(2025, 4, 1)),
                change("title", None, date(2026, 1, 1)),
            ]
        };
        let on = |d| in_force(history(), d);
        assert_eq!(on(date(2025, 3, 31)).get("fee"), None);
        assert_eq!(on(date(2025, 9, 30)).get("fee"), Some(&"300"));
        assert_eq!(on(date(2025, 10, 1)).get("fee"), Some(&"320"));
        assert_eq!(on(date(2026, 3, 31)).get("fee"), Some(&"320"));
        assert_eq!(
            on(date(2026, 4, 1)).get("fee"),
            Some(&"350"),
            "the 年度's rate"
        );
        assert_eq!(on(date(2025, 12, 31)).get("title"), Some(&"市長"));
        assert_eq!(
            on(date(2026, 1, 1)).get("title"),
            None,
            "removed from its date"
        );
        // Two changes with one date: the later recorded.
        let same_day = vec![
            change("fee", Some("1"), date(2025, 4, 1)),
            change("fee", Some("2"), date(2025, 4, 1)),
        ];
        assert_eq!(in_force(same_day, date(2025, 4, 1)).get("fee"), Some(&"2"));
    }

    #[test]
    fn tiers_override_in_order() {
        let def = find("tax.light_vehicle.due_date").expect("known");
        assert_eq!(
            resolve(def, None, None, day()).value.as_deref(),
            Some("05-31")
        );
        assert_eq!(resolve(def, None, None, day()).tier, Tier::Standard);
        let pref = resolve(def, Some("06-01"), None, day());
        assert_eq!(
            (pref.value.as_deref(), pref.tier),
            (Some("06-01"), Tier::Prefecture)
        );
        let muni = resolve(def, Some("06-01"), Some("06-30"), day());
        assert_eq!(
            (muni.value.as_deref(), muni.tier),
            (Some("06-30"), Tier::Municipal)
        );
        let muni_only = resolve(def, None, Some("06-30"), day());
        assert_eq!(muni_only.tier, Tier::Municipal);
    }

    #[test]
    fn resolve_all_covers_registry() {
        let pref: HashMap<&str, &str> = [("login.max_failures", "7")].into();
        let muni: HashMap<&str, &str> = [("certificate.issuer_title", "深川市長")].into();
        let all = resolve_all(|k| pref.get(k).copied(), |k| muni.get(k).copied(), day());
        assert_eq!(all.len(), REGISTRY.len());
        let get = |k: &str| all.iter().find(|r| r.key == k).expect("present");
        assert_eq!(get("login.max_failures").tier, Tier::Prefecture);
        assert_eq!(
            get("certificate.issuer_title").value.as_deref(),
            Some("深川市長")
        );
        assert_eq!(get("certificate.issuer_name").value, None);
    }

    #[test]
    fn values_are_validated() {
        let days = find("resident.notification_deadline_days").expect("known");
        assert_eq!(days.validate(" 14 "), Ok("14".into()));
        assert!(days.validate("0").is_err());
        assert!(days.validate("fourteen").is_err());
        let due = find("tax.light_vehicle.due_date").expect("known");
        assert_eq!(due.validate("5-31"), Ok("05-31".into()));
        assert!(due.validate("02-30").is_err());
        assert!(due.validate("13-01").is_err());
        let title = find("certificate.issuer_title").expect("known");
        assert!(title.validate("").is_err());
        assert!(title.validate("市長\u{7}").is_err());
        match find("certificate.mayor") {
            Err(SettingError::Unknown { known, .. }) => {
                assert!(known.contains("certificate.issuer_title"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn registry_keys_are_unique_and_standards_valid() {
        for (i, d) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[i + 1..].iter().all(|o| o.key != d.key),
                "{} twice",
                d.key
            );
            if let Some(s) = d.standard {
                assert_eq!(d.validate(s).as_deref(), Ok(s), "{}", d.key);
            }
        }
    }

    #[test]
    fn quotas_are_the_platforms_to_set() {
        for key in [
            "platform.requests_per_second",
            "platform.concurrent_batches",
        ] {
            let def = find(key).expect("known");
            assert_eq!(def.set_by, SetBy::Platform, "{key}");
            assert!(def.standard.is_some(), "{key} has a 標準 value");
        }
        for d in REGISTRY {
            assert_eq!(
                d.key.starts_with("platform."),
                d.set_by == SetBy::Platform,
                "{}: the platform. prefix names exactly the operator's settings",
                d.key
            );
        }
    }
}
