//! A synthetic population: households of residents with plausible Japanese
//! names, kana, addresses, 本籍 and birth dates, as 転入 (`resident.entered`)
//! ledger entries. Deterministic (seeded), so every run appends the same
//! bytes and results compare across runs and machines.

use chrono::NaiveDate;
use murakumo_core::ResidentCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_resident::{Citizenship, EntryReason, Person, ResidentEvent, Sex};

/// 氏 and their フリガナ: the most common family names in Japan.
const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("近藤", "コンドウ"),
    ("岡田", "オカダ"),
    ("後藤", "ゴトウ"),
    ("多田", "タダ"),
    ("三木", "ミキ"),
];

const GIVEN_MALE: &[(&str, &str)] = &[
    ("太郎", "タロウ"),
    ("一郎", "イチロウ"),
    ("健太", "ケンタ"),
    ("大輔", "ダイスケ"),
    ("翔太", "ショウタ"),
    ("蓮", "レン"),
    ("悠真", "ユウマ"),
    ("浩", "ヒロシ"),
    ("誠", "マコト"),
    ("隆", "タカシ"),
    ("湊", "ミナト"),
    ("陽翔", "ハルト"),
];

const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("花子", "ハナコ"),
    ("陽子", "ヨウコ"),
    ("美咲", "ミサキ"),
    ("由美", "ユミ"),
    ("恵子", "ケイコ"),
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("さくら", "サクラ"),
    ("和子", "カズコ"),
    ("葵", "アオイ"),
    ("芽依", "メイ"),
    ("凛", "リン"),
];

/// Where people move in from (前住所).
const PREVIOUS: &[&str] = &[
    "大阪府大阪市北区梅田一丁目1番1号",
    "東京都千代田区丸の内一丁目9番1号",
    "香川県高松市番町一丁目8番15号",
    "兵庫県神戸市中央区加納町六丁目5番1号",
    "徳島県鳴門市撫養町南浜字東浜170番地",
    "高知県高知市本町五丁目1番45号",
];

/// 方書 of some households.
const BUILDINGS: &[&str] = &[
    "コーポ眉山",
    "ハイツ吉野川",
    "メゾン新町",
    "グランドール阿波",
];

/// 町名 of the address (real 町名 of 徳島市, used for every tenant).
const TOWNS: &[&str] = &[
    "川内町",
    "応神町",
    "国府町",
    "八万町",
    "佐古一番町",
    "南佐古二番町",
    "昭和町",
    "沖浜町",
    "北田宮",
    "南矢三町",
    "不動本町",
    "上八万町",
    "大原町",
    "方上町",
    "津田町",
    "新浜町",
];

/// A seeded SplitMix64: tiny, fast, and good enough to vary test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The actor recorded on generated entries: a migration import job.
pub const ACTOR: &str = "system:migration";

/// 異動日 (and 届出日) of every generated 転入.
pub fn effective_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default()
}

/// Generates the 転入 of one municipality's residents, household by
/// household (1–5 people, about 2.2 on average as in the census).
pub struct Population {
    rng: Rng,
    /// 都道府県 + 市区町村 at the head of every address, e.g. 徳島県徳島市.
    city: String,
    next_resident: u64,
    next_household: u64,
    /// Residents of the current household still to be generated.
    pending: Vec<ResidentEvent>,
}

impl Population {
    pub fn new(seed: u64, city: &str) -> Population {
        Population {
            rng: Rng::new(seed),
            city: city.to_string(),
            next_resident: 1,
            next_household: 1,
            pending: Vec::new(),
        }
    }

    /// The next `n` 転入 as ledger entries.
    pub fn entries(&mut self, n: usize) -> Vec<NewEntry> {
        (0..n)
            .map(|_| {
                let (kind, version, payload) = self.next_event().encode();
                NewEntry {
                    kind: kind.to_string(),
                    version,
                    effective_date: effective_date(),
                    actor: ACTOR.to_string(),
                    payload,
                }
            })
            .collect()
    }

    fn next_event(&mut self) -> ResidentEvent {
        loop {
            if let Some(e) = self.pending.pop() {
                return e;
            }
            self.household();
        }
    }

    /// Fills `pending` with one household, head last (popped first).
    fn household(&mut self) {
        let size = match self.rng.below(100) {
            0..=37 => 1,
            38..=65 => 2,
            66..=82 => 3,
            83..=94 => 4,
            _ => 5,
        };
        let address = format!(
            "{}{}{}丁目{}番{}号",
            self.city,
            self.rng.pick(TOWNS),
            1 + self.rng.below(5),
            1 + self.rng.below(40),
            1 + self.rng.below(30)
        );
        let katagaki = if self.rng.below(3) == 0 {
            format!(
                "{} {}号室",
                self.rng.pick(BUILDINGS),
                101 + self.rng.below(5) * 100 + self.rng.below(8)
            )
        } else {
            String::new()
        };
        let previous = self.rng.pick(PREVIOUS).to_string();
        let (family_name, family_kana) = *self.rng.pick(FAMILY);
        let head_sex = if self.rng.below(2) == 0 {
            Sex::Male
        } else {
            Sex::Female
        };
        let mut roles = vec![("世帯主", head_sex)];
        if size >= 2 {
            roles.push(match head_sex {
                Sex::Male => ("妻", Sex::Female),
                _ => ("夫", Sex::Male),
            });
        }
        for _ in 2..size {
            let sex = if self.rng.below(2) == 0 {
                Sex::Male
            } else {
                Sex::Female
            };
            roles.push(("子", sex));
        }
        let honseki = format!(
            "{}{}{}番地",
            self.city,
            self.rng.pick(TOWNS),
            1 + self.rng.below(300)
        );
        let mut hittosha = String::new();
        let household_id = format!("{:010}", self.next_household);
        self.next_household += 1;
        let mut members = Vec::with_capacity(size);
        for (relationship, sex) in roles {
            let (given_name, given_kana) = *self.rng.pick(match sex {
                Sex::Male => GIVEN_MALE,
                _ => GIVEN_FEMALE,
            });
            if hittosha.is_empty() {
                hittosha = format!("{family_name}　{given_name}");
            }
            let born = NaiveDate::from_ymd_opt(1925, 1, 1).unwrap_or_default()
                + chrono::Days::new(self.rng.below(100 * 365) as u64);
            let code = ResidentCode::from_ten_digits(&format!(
                "{:010}",
                1_000_000_000 + self.next_resident
            ))
            .map(|c| c.as_str().to_string())
            .unwrap_or_default();
            self.next_resident += 1;
            members.push(ResidentEvent::Entered {
                resident_code: code,
                household_id: household_id.clone(),
                relationship: relationship.to_string(),
                person: Person {
                    family_name: family_name.to_string(),
                    given_name: given_name.to_string(),
                    family_kana: family_kana.to_string(),
                    given_kana: given_kana.to_string(),
                    romaji: None,
                    alias: None,
                    birth_date: born,
                    sex,
                    citizenship: Citizenship::Japanese {
                        honseki: honseki.clone(),
                        hittosha: hittosha.clone(),
                    },
                },
                address: address.clone(),
                katagaki: katagaki.clone(),
                reason: EntryReason::MoveIn {
                    previous_address: previous.clone(),
                },
                notified_date: effective_date(),
            });
        }
        members.reverse();
        self.pending = members;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_valid_and_unique() {
        let mut p = Population::new(7, "徳島県徳島市");
        let today = NaiveDate::from_ymd_opt(2026, 4, 1).expect("date");
        let mut codes = std::collections::HashSet::new();
        for e in p.entries(1_000) {
            let Ok(Some(ev)) = ResidentEvent::decode(&e.kind, e.version, &e.payload) else {
                panic!("not a resident event: {e:?}");
            };
            assert!(matches!(ev, ResidentEvent::Entered { .. }));
            murakumo_resident::validate(&ev, None, e.effective_date, today, 14)
                .expect("valid 転入");
            assert!(
                codes.insert(ev.resident_code().to_string()),
                "duplicate 住民票コード"
            );
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = Population::new(1, "徳島県徳島市").entries(50);
        let b = Population::new(1, "徳島県徳島市").entries(50);
        assert_eq!(a, b);
    }
}
