//! 統計: 人口・世帯数 by 町字, 男女 and 年齢 as of a date, and 異動集計 for a period, computed
//! from the register's events (in ledger order, each with its 異動日) — the same replay as
//! [`crate::replay`], so a statistic of a past date counts the register as it was then.
//!
//! Pure: the caller streams the events in; nothing here reads a clock or a table.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use crate::{Citizenship, EntryReason, Record, RemovalReason, ResidentEvent, Sex, Status, apply};

/// Counts by sex. `other`: 性別 recorded as neither (counted in the total only, as the
/// national 住民基本台帳 statistics have no column for it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BySex {
    pub male: u64,
    pub female: u64,
    pub other: u64,
}

impl BySex {
    pub fn total(&self) -> u64 {
        self.male + self.female + self.other
    }

    fn add(&mut self, sex: Sex) {
        match sex {
            Sex::Male => self.male += 1,
            Sex::Female => self.female += 1,
            Sex::Other => self.other += 1,
        }
    }
}

/// One 町字 of the population table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TownRow {
    /// 町字, from the address (see [`town_of`]).
    pub town: String,
    /// 世帯数: households whose members live in this 町字.
    pub households: u64,
    pub people: BySex,
    /// Of whom 外国人住民.
    pub foreign: u64,
}

/// One 5-year band of the age table (the last band is 100 and over).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgeRow {
    /// e.g. "0〜4歳", "100歳以上".
    pub band: String,
    pub people: BySex,
}

/// 人口・世帯数 as of a date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Population {
    /// 基準日.
    pub on: NaiveDate,
    /// By 町字, in the order of the 町字's names.
    pub towns: Vec<TownRow>,
    /// By age in 5-year bands.
    pub ages: Vec<AgeRow>,
    pub households: u64,
    pub people: BySex,
    pub foreign: u64,
}

/// One kind of 異動 in a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MovementRow {
    /// e.g. "転入", "出生", "転出", "死亡".
    pub kind: String,
    pub people: BySex,
}

/// 異動集計: the 異動 whose 異動日 falls in a period, by kind and sex.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Movements {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// In [`MOVEMENT_KINDS`] order, every kind listed (0 when none).
    pub rows: Vec<MovementRow>,
}

/// The kinds of 異動 counted, in the order the tables list them: the ones that change the
/// population (増: 転入, 出生, 職権記載; 減: 転出, 死亡, 職権消除), then the others.
pub const MOVEMENT_KINDS: [&str; 9] = [
    "転入",
    "出生",
    "職権記載",
    "転出",
    "死亡",
    "職権消除",
    "転居",
    "世帯変更",
    "氏名変更",
];

/// Age on `on` by the 年齢計算ニ関スル法律: a year of age is completed at the end of the day
/// before the birthday (so a person born on 29 February is a year older on 28 February).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let Some(next_day) = on.succ_opt() else {
        return 0;
    };
    let mut years = next_day.year() - birth.year();
    if (next_day.month(), next_day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

/// The 町字 of an address: after the municipality's name (e.g. "徳島県徳島市"), up to the
/// 番地 (the first number followed by 番, 番地, 号, "-" or "の"). "応神町古川7番12号" →
/// "応神町古川"; "丸の内一丁目9番1号" → "丸の内一丁目"; "3条3番3号" → "3条". An address
/// outside the municipality's name gives "(その他)". Until addresses are held as structured
/// items with the アドレス・ベース・レジストリ's 町字コード (issue 18), this is derived from the text.
pub fn town_of(address: &str, municipality: &str) -> String {
    let Some(rest) = address.strip_prefix(municipality) else {
        return OTHER_TOWN.to_string();
    };
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_digit(chars[i]) {
            let start = i;
            while i < chars.len() && is_digit(chars[i]) {
                i += 1;
            }
            let next = chars.get(i).copied();
            if start > 0
                && matches!(
                    next,
                    Some('番' | '号' | '-' | '－' | 'ー' | '‐' | 'の') | None
                )
            {
                return chars[..start].iter().collect();
            }
        } else {
            i += 1;
        }
    }
    if rest.is_empty() {
        OTHER_TOWN.to_string()
    } else {
        rest.to_string()
    }
}

/// The 町字 of addresses that do not start with the municipality's name.
pub const OTHER_TOWN: &str = "(その他)";

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// Replays events into records as of a date, and counts the 異動 of the period that ends on
/// that date, in one pass.
pub struct Tally {
    from: NaiveDate,
    on: NaiveDate,
    records: HashMap<String, Record>,
    movements: BTreeMap<&'static str, BySex>,
}

impl Tally {
    /// The population will be as of `on`; 異動 are counted when their 異動日 is within
    /// `from..=on` (e.g. a month: its first day to its last).
    pub fn new(from: NaiveDate, on: NaiveDate) -> Tally {
        Tally {
            from,
            on,
            records: HashMap::new(),
            movements: BTreeMap::new(),
        }
    }

    /// One event, in ledger order, with its 異動日. Events that do not apply (which
    /// validation prevents) are skipped, as the projection skips them.
    pub fn push(&mut self, event: &ResidentEvent, effective: NaiveDate) {
        if effective > self.on {
            return;
        }
        let code = event.resident_code();
        let before = self.records.remove(code);
        let after = match apply(before.clone(), event, effective) {
            Ok(r) => r,
            Err(_) => {
                if let Some(b) = before {
                    self.records.insert(code.to_string(), b);
                }
                return;
            }
        };
        if effective >= self.from
            && let Some(kind) = movement_kind(event)
        {
            self.movements
                .entry(kind)
                .or_default()
                .add(after.person.sex);
        }
        self.records.insert(code.to_string(), after);
    }

    /// 人口・世帯数 as of the date given to [`Tally::new`], for a municipality named
    /// `municipality` (the prefix of its addresses).
    pub fn population(&self, municipality: &str) -> Population {
        let mut towns: BTreeMap<String, (HashSet<&str>, BySex, u64)> = BTreeMap::new();
        let mut ages: Vec<BySex> = vec![BySex::default(); 21];
        let mut households: HashSet<&str> = HashSet::new();
        let mut people = BySex::default();
        let mut foreign = 0;
        for r in self.records.values() {
            if !counted_on(r, self.on) {
                continue;
            }
            let sex = r.person.sex;
            let is_foreign = matches!(r.person.citizenship, Citizenship::Foreign { .. });
            let town = towns
                .entry(town_of(&r.address.text, municipality))
                .or_default();
            town.0.insert(&r.household_id);
            town.1.add(sex);
            town.2 += u64::from(is_foreign);
            let band = (age_on(r.person.birth_date, self.on) / 5).min(20) as usize;
            ages[band].add(sex);
            households.insert(&r.household_id);
            people.add(sex);
            foreign += u64::from(is_foreign);
        }
        Population {
            on: self.on,
            towns: towns
                .into_iter()
                .map(|(town, (h, people, foreign))| TownRow {
                    town,
                    households: h.len() as u64,
                    people,
                    foreign,
                })
                .collect(),
            ages: ages
                .into_iter()
                .enumerate()
                .map(|(i, people)| AgeRow {
                    band: if i == 20 {
                        "100歳以上".to_string()
                    } else {
                        format!("{}〜{}歳", i * 5, i * 5 + 4)
                    },
                    people,
                })
                .collect(),
            households: households.len() as u64,
            people,
            foreign,
        }
    }

    /// 異動集計 of the period given to [`Tally::new`].
    pub fn movements(&self) -> Movements {
        Movements {
            from: self.from,
            to: self.on,
            rows: MOVEMENT_KINDS
                .iter()
                .map(|k| MovementRow {
                    kind: (*k).to_string(),
                    people: self.movements.get(k).copied().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// Whether `r` counts in the population on `on`: a current resident, or one who gave notice
/// of moving out and whose 転出予定日 has not passed by then (標準仕様書 §6.1/M3); a 除票 or a
/// 転出予定者 past the planned day does not.
fn counted_on(r: &Record, on: NaiveDate) -> bool {
    match &r.status {
        Status::Current => true,
        Status::MovingOut { planned_date, .. } => *planned_date >= on,
        Status::Removed { .. } => false,
    }
}

/// Which row of the 異動集計 an event counts in (`None`: not a 異動 of the table, e.g. 職権修正,
/// 支援措置, 転出予定 — the 転出 counts when it is confirmed).
fn movement_kind(event: &ResidentEvent) -> Option<&'static str> {
    Some(match event {
        ResidentEvent::Entered { reason, .. } => match reason {
            EntryReason::MoveIn { .. } | EntryReason::MoveInNotice { .. } => "転入",
            EntryReason::Birth => "出生",
            EntryReason::ExOfficio { .. } => "職権記載",
        },
        ResidentEvent::Removed { reason, .. } => match reason {
            RemovalReason::MovedOut { .. } => "転出",
            RemovalReason::Died => "死亡",
            RemovalReason::ExOfficio { .. } => "職権消除",
        },
        ResidentEvent::Relocated { .. } => "転居",
        ResidentEvent::HouseholdChanged { .. } => "世帯変更",
        ResidentEvent::NameChanged { .. } => "氏名変更",
        ResidentEvent::MoveOutPlanned { .. }
        | ResidentEvent::MoveOutCancelled { .. }
        | ResidentEvent::Corrected { .. }
        | ResidentEvent::ProtectionSet { .. }
        | ResidentEvent::ProtectionLifted { .. }
        | ResidentEvent::FormerSurnameSet { .. }
        | ResidentEvent::AliasSet { .. }
        | ResidentEvent::AddresseeNumberAssigned { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn entered(
        code: &str,
        household: &str,
        sex: Sex,
        birth: NaiveDate,
        address: &str,
        reason: EntryReason,
    ) -> ResidentEvent {
        ResidentEvent::Entered {
            resident_code: code.into(),
            household_id: household.into(),
            relationship: "世帯主".into(),
            person: crate::Person {
                family_name: "山田".into(),
                given_name: "花子".into(),
                family_kana: "ヤマダ".into(),
                given_kana: "ハナコ".into(),
                romaji: None,
                alias: None,
                birth_date: birth,
                sex,
                citizenship: Citizenship::Japanese {
                    honseki: "北海道".into(),
                    hittosha: "山田".into(),
                },
            },
            address: address.into(),
            katagaki: String::new(),
            reason,
            notified_date: d(2026, 1, 1),
        }
    }

    /// Three people enter before November; in November one is born, one moves within the
    /// city, one moves out; in December one dies. As of 30 November: the December death is
    /// not counted, the November 転出 is.
    #[test]
    fn population_and_movements_as_of_a_date() {
        let m = "北海道深川市";
        let move_in = || EntryReason::MoveIn {
            previous_address: "札幌市".into(),
        };
        let events = vec![
            (
                entered(
                    "A",
                    "H1",
                    Sex::Male,
                    d(1950, 6, 1),
                    "北海道深川市1条1番1号",
                    move_in(),
                ),
                d(2026, 4, 1),
            ),
            (
                entered(
                    "B",
                    "H2",
                    Sex::Female,
                    d(1990, 6, 1),
                    "北海道深川市1条2番2号",
                    move_in(),
                ),
                d(2026, 4, 1),
            ),
            (
                entered(
                    "C",
                    "H3",
                    Sex::Female,
                    d(2000, 6, 1),
                    "北海道深川市2条5番5号",
                    move_in(),
                ),
                d(2026, 4, 1),
            ),
            (
                entered(
                    "D",
                    "H2",
                    Sex::Male,
                    d(2026, 11, 3),
                    "北海道深川市1条2番2号",
                    EntryReason::Birth,
                ),
                d(2026, 11, 3),
            ),
            (
                ResidentEvent::Relocated {
                    resident_code: "A".into(),
                    address: "北海道深川市2条9番9号".into(),
                    katagaki: String::new(),
                    notified_date: d(2026, 11, 10),
                },
                d(2026, 11, 10),
            ),
            (
                ResidentEvent::Removed {
                    resident_code: "C".into(),
                    reason: RemovalReason::MovedOut {
                        destination: "札幌市".into(),
                    },
                    notified_date: d(2026, 11, 20),
                },
                d(2026, 11, 20),
            ),
            (
                ResidentEvent::Removed {
                    resident_code: "B".into(),
                    reason: RemovalReason::Died,
                    notified_date: d(2026, 12, 2),
                },
                d(2026, 12, 1),
            ),
        ];
        let mut t = Tally::new(d(2026, 11, 1), d(2026, 11, 30));
        for (e, on) in &events {
            t.push(e, *on);
        }
        let p = t.population(m);
        assert_eq!((p.people.male, p.people.female, p.households), (2, 1, 2));
        let towns: Vec<(&str, u64, u64)> = p
            .towns
            .iter()
            .map(|r| (r.town.as_str(), r.households, r.people.total()))
            .collect();
        assert_eq!(towns, [("1条", 1, 2), ("2条", 1, 1)]);
        assert_eq!(p.ages[0].people.male, 1, "the baby is 0");
        assert_eq!(p.ages[7].people.female, 1, "36 on 30 November 2026");
        assert_eq!(p.ages[15].people.male, 1, "76");
        let count = |kind: &str| {
            let r = t
                .movements()
                .rows
                .into_iter()
                .find(|r| r.kind == kind)
                .expect("row");
            (r.people.male, r.people.female)
        };
        assert_eq!(count("出生"), (1, 0));
        assert_eq!(count("転居"), (1, 0));
        assert_eq!(count("転出"), (0, 1));
        assert_eq!(count("転入"), (0, 0), "before the month");
        assert_eq!(count("死亡"), (0, 0), "after the date");
        assert_eq!(t.movements().rows.len(), MOVEMENT_KINDS.len());
    }

    #[test]
    fn one_moving_out_counts_until_the_planned_day_has_passed() {
        let m = "北海道深川市";
        let entered_a = entered(
            "A",
            "H1",
            Sex::Male,
            d(1950, 6, 1),
            "北海道深川市1条1番1号",
            EntryReason::Birth,
        );
        let planned = ResidentEvent::MoveOutPlanned {
            resident_code: "A".into(),
            planned_date: d(2026, 11, 15),
            destination: "札幌市".into(),
            notified_date: d(2026, 11, 1),
        };
        let people_on = |on: NaiveDate| {
            let mut t = Tally::new(d(2026, 11, 1), on);
            t.push(&entered_a, d(2026, 4, 1));
            t.push(&planned, d(2026, 11, 1));
            t.population(m).people.total()
        };
        assert_eq!(people_on(d(2026, 11, 14)), 1, "before the planned day");
        assert_eq!(
            people_on(d(2026, 11, 15)),
            1,
            "on the planned day: not yet passed"
        );
        assert_eq!(people_on(d(2026, 11, 16)), 0, "the planned day has passed");
    }

    #[test]
    fn age_is_completed_the_day_before_the_birthday() {
        assert_eq!(age_on(d(2000, 4, 2), d(2020, 4, 1)), 20);
        assert_eq!(age_on(d(2000, 4, 2), d(2020, 3, 31)), 19);
        assert_eq!(age_on(d(2000, 4, 1), d(2020, 3, 31)), 20);
        // Born on 29 February: a year older on 28 February of a common year.
        assert_eq!(age_on(d(2004, 2, 29), d(2021, 2, 27)), 16);
        assert_eq!(age_on(d(2004, 2, 29), d(2021, 2, 28)), 17);
        assert_eq!(age_on(d(2026, 5, 5), d(2026, 5, 5)), 0);
        assert_eq!(age_on(d(2026, 5, 5), d(2026, 1, 1)), 0, "not born yet");
    }

    #[test]
    fn the_town_is_the_address_before_its_number() {
        let m = "徳島県徳島市";
        assert_eq!(town_of("徳島県徳島市応神町古川7番12号", m), "応神町古川");
        assert_eq!(town_of("徳島県徳島市丸の内一丁目9番1号", m), "丸の内一丁目");
        assert_eq!(town_of("徳島県徳島市本町六丁目50番地10", m), "本町六丁目");
        assert_eq!(town_of("徳島県徳島市3条3番3号", m), "3条");
        assert_eq!(town_of("徳島県徳島市北1条西2丁目1-3", m), "北1条西2丁目");
        assert_eq!(town_of("徳島県徳島市沖浜町", m), "沖浜町");
        assert_eq!(town_of("徳島県徳島市", m), OTHER_TOWN);
        assert_eq!(town_of("北海道深川市1条", m), OTHER_TOWN);
    }
}
