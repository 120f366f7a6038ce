//! The 47 prefectures (都道府県) and their codes (都道府県コード, JIS X 0401), which are the
//! first two digits of every 全国地方公共団体コード.

use std::fmt;

use crate::tenant_code::TenantCode;

/// One of the 47 prefectures (都道府県), numbered 01–47 as in JIS X 0401 and in the first two
/// digits of a [`TenantCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Prefecture {
    Hokkaido = 1,
    Aomori = 2,
    Iwate = 3,
    Miyagi = 4,
    Akita = 5,
    Yamagata = 6,
    Fukushima = 7,
    Ibaraki = 8,
    Tochigi = 9,
    Gunma = 10,
    Saitama = 11,
    Chiba = 12,
    Tokyo = 13,
    Kanagawa = 14,
    Niigata = 15,
    Toyama = 16,
    Ishikawa = 17,
    Fukui = 18,
    Yamanashi = 19,
    Nagano = 20,
    Gifu = 21,
    Shizuoka = 22,
    Aichi = 23,
    Mie = 24,
    Shiga = 25,
    Kyoto = 26,
    Osaka = 27,
    Hyogo = 28,
    Nara = 29,
    Wakayama = 30,
    Tottori = 31,
    Shimane = 32,
    Okayama = 33,
    Hiroshima = 34,
    Yamaguchi = 35,
    Tokushima = 36,
    Kagawa = 37,
    Ehime = 38,
    Kochi = 39,
    Fukuoka = 40,
    Saga = 41,
    Nagasaki = 42,
    Kumamoto = 43,
    Oita = 44,
    Miyazaki = 45,
    Kagoshima = 46,
    Okinawa = 47,
}

use Prefecture::*;

const ALL: [Prefecture; 47] = [
    Hokkaido, Aomori, Iwate, Miyagi, Akita, Yamagata, Fukushima, Ibaraki, Tochigi, Gunma, Saitama,
    Chiba, Tokyo, Kanagawa, Niigata, Toyama, Ishikawa, Fukui, Yamanashi, Nagano, Gifu, Shizuoka,
    Aichi, Mie, Shiga, Kyoto, Osaka, Hyogo, Nara, Wakayama, Tottori, Shimane, Okayama, Hiroshima,
    Yamaguchi, Tokushima, Kagawa, Ehime, Kochi, Fukuoka, Saga, Nagasaki, Kumamoto, Oita, Miyazaki,
    Kagoshima, Okinawa,
];

const NAMES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

impl Prefecture {
    /// The prefecture with code `code` (1 北海道 … 47 沖縄県), or `None` outside 1–47.
    pub const fn from_code(code: u8) -> Option<Prefecture> {
        match code {
            1..=47 => Some(ALL[code as usize - 1]),
            _ => None,
        }
    }

    /// The 都道府県コード, 1–47.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The name in kanji, with its 都/道/府/県 suffix: "北海道", "東京都", "京都府", "徳島県".
    pub const fn name(self) -> &'static str {
        NAMES[self as usize - 1]
    }

    /// All 47 prefectures in code order.
    pub const fn all() -> &'static [Prefecture; 47] {
        &ALL
    }

    /// The prefecture an address begins with ("北海道深川市…" → 北海道), if any: an address
    /// that does not is a part of one (a 町字 and 番地 as staff type them, "3条3番").
    pub fn starting(address: &str) -> Option<Prefecture> {
        ALL.iter()
            .copied()
            .find(|p| address.trim_start().starts_with(p.name()))
    }

    /// The 全国地方公共団体コード of the prefecture itself as a 団体 (e.g. 東京都 → 130001).
    pub fn tenant_code(self) -> TenantCode {
        TenantCode::of_prefecture(self)
    }
}

impl fmt::Display for Prefecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_address_is_whole_when_it_begins_with_a_prefecture() {
        use super::Prefecture;
        assert_eq!(
            Prefecture::starting("北海道深川市3条3番3号"),
            Some(Prefecture::Hokkaido)
        );
        assert_eq!(
            Prefecture::starting(" 京都府京都市"),
            Some(Prefecture::from_code(26).expect("京都府"))
        );
        assert_eq!(Prefecture::starting("3条3番"), None);
        assert_eq!(Prefecture::starting("深川市3条"), None);
        assert_eq!(Prefecture::starting("京都市"), None, "京都市 is not 京都府");
    }

    use super::*;

    #[test]
    fn codes_run_from_1_to_47_in_order() {
        for (i, p) in Prefecture::all().iter().enumerate() {
            assert_eq!(usize::from(p.code()), i + 1);
            assert_eq!(Prefecture::from_code(p.code()), Some(*p));
        }
        assert_eq!(Prefecture::from_code(0), None);
        assert_eq!(Prefecture::from_code(48), None);
        assert_eq!(Prefecture::from_code(99), None);
    }

    #[test]
    fn names_carry_their_suffix() {
        assert_eq!(Prefecture::Hokkaido.name(), "北海道");
        assert_eq!(Prefecture::Tokyo.name(), "東京都");
        assert_eq!(Prefecture::Kyoto.name(), "京都府");
        assert_eq!(Prefecture::Osaka.name(), "大阪府");
        assert_eq!(Prefecture::Tokushima.name(), "徳島県");
        assert_eq!(Prefecture::Okinawa.name(), "沖縄県");
        assert_eq!(
            Prefecture::from_code(14).map(Prefecture::name),
            Some("神奈川県")
        );
        assert_eq!(
            Prefecture::from_code(30).map(Prefecture::name),
            Some("和歌山県")
        );
        assert_eq!(
            Prefecture::from_code(46).map(Prefecture::name),
            Some("鹿児島県")
        );
        assert_eq!(Prefecture::Tokyo.to_string(), "東京都");
        for p in Prefecture::all() {
            let suffix = p.name().chars().last();
            assert!(matches!(suffix, Some('都' | '道' | '府' | '県')), "{p:?}");
        }
    }

    #[test]
    fn a_prefecture_has_its_own_tenant_code() {
        assert_eq!(Prefecture::Hokkaido.tenant_code().as_str(), "010006");
        assert_eq!(Prefecture::Tokyo.tenant_code().as_str(), "130001");
        for p in Prefecture::all() {
            let code = p.tenant_code();
            assert_eq!(code.prefecture(), *p);
            assert!(code.is_prefecture_level());
        }
    }
}
