//! The synthetic data generator: a municipality's residents in households,
//! with an age pyramid and household types like a real town, names with a
//! realistic share of rare and 外字 characters, real 町名 of the municipality
//! (from Japan Post's postal-code data, `data/towns.tsv.zst`), and a year of
//! 異動 (births, deaths, moves in, out and within, marriages, household
//! changes, corrections, 支援措置), and the town's 印鑑登録 with their
//! history and its 公印 (`seals.rs`). Deterministic for a seed.
//!
//! One model serves `murakumo gen`, the demo (`serve --demo`) and the
//! benchmarks. It does not generate tax or NHI records yet.

mod names;
mod seals;

use std::io::Read;

use chrono::{Days, NaiveDate};
use murakumo_core::{ResidentCode, TenantCode};
use murakumo_resident::{Citizenship, EntryReason, Person, RemovalReason, ResidentEvent, Sex};

use crate::convert::Dated;
use crate::seal::DatedSeal;
use crate::text::{GaijiEntry, GaijiTable, sjis_to_pua};

pub use names::GAIJI;
pub use seals::{official_seal, seals};

/// A seeded SplitMix64: tiny, fast, the same on every platform.
#[derive(Clone, Debug)]
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

    /// In `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `per_mille` / 1000.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as usize) as i64
    }
}

/// A 町域 of the municipality.
#[derive(Clone, Debug)]
pub struct Town {
    pub name: String,
    /// The town's addresses have 丁目.
    pub chome: bool,
    pub postal_code: String,
}

/// Where the residents live.
#[derive(Clone, Debug)]
pub struct Place {
    pub prefecture: String,
    pub city: String,
    pub towns: Vec<Town>,
    /// True when the 町名 come from postal data, false when synthesised.
    pub real_towns: bool,
}

static TOWNS_ZST: &[u8] = include_bytes!("../../data/towns.tsv.zst");

fn towns_tsv() -> String {
    let mut s = String::new();
    if let Ok(mut d) = zstd::stream::read::Decoder::new(TOWNS_ZST) {
        let _ = d.read_to_string(&mut s);
    }
    s
}

impl Place {
    /// The municipality's 町域 from the postal data; for a code the data
    /// does not know (e.g. a 政令市 as a whole), common 町名 under a name
    /// made from the code.
    pub fn of(code: &TenantCode) -> Place {
        let five = code.as_five_digits();
        Place::from_rows(|cols| cols[0] == five).unwrap_or_else(|| Place {
            prefecture: code.prefecture().name().to_string(),
            city: format!("市町村{five}"),
            towns: common_towns(),
            real_towns: false,
        })
    }

    /// By name, e.g. `徳島県鳴門市`.
    pub fn by_name(full: &str) -> Place {
        Place::from_rows(|cols| full == format!("{}{}", cols[1], cols[2])).unwrap_or_else(|| {
            Place {
                prefecture: String::new(),
                city: full.to_string(),
                towns: common_towns(),
                real_towns: false,
            }
        })
    }

    fn from_rows(matches: impl Fn(&[&str]) -> bool) -> Option<Place> {
        let tsv = towns_tsv();
        let mut place: Option<Place> = None;
        for line in tsv.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 7 || !matches(&cols) {
                continue;
            }
            let p = place.get_or_insert_with(|| Place {
                prefecture: cols[1].to_string(),
                city: cols[2].to_string(),
                towns: Vec::new(),
                real_towns: true,
            });
            p.towns.push(Town {
                name: cols[4].to_string(),
                chome: cols[6] == "1",
                postal_code: cols[3].to_string(),
            });
        }
        place
    }

    pub fn full_name(&self) -> String {
        format!("{}{}", self.prefecture, self.city)
    }
}

fn common_towns() -> Vec<Town> {
    names::COMMON_TOWNS
        .iter()
        .map(|t| Town {
            name: t.to_string(),
            chome: true,
            postal_code: String::new(),
        })
        .collect()
}

/// The generator's 外字対応表.
pub fn gaiji_table() -> GaijiTable {
    GaijiTable::new(
        GAIJI
            .iter()
            .map(|(code, mj, ucs, note)| GaijiEntry {
                code: code.and_then(sjis_to_pua),
                mj: Some(mj.to_string()),
                ucs: ucs.to_string(),
                note: note.to_string(),
            })
            .collect(),
    )
    .unwrap_or_default()
}

const KANJI_DIGITS: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];

fn kanji_number(n: usize) -> String {
    match n {
        0..=9 => KANJI_DIGITS[n].to_string(),
        10 => "十".into(),
        11..=19 => format!("十{}", KANJI_DIGITS[n - 10]),
        _ => n.to_string(),
    }
}

/// One generated resident as the generator tracks it.
#[derive(Clone, Debug)]
struct Member {
    code: String,
    household: usize,
    relationship: String,
    birth: NaiveDate,
    sex: Sex,
    /// Still registered (not 転出/死亡).
    current: bool,
    family_name: String,
    family_kana: String,
    given_name: String,
    given_kana: String,
    protected: bool,
}

#[derive(Clone, Debug)]
struct Household {
    id: String,
    address: String,
    katagaki: String,
    members: Vec<usize>,
}

/// Generates households of residents and their 異動.
pub struct Generator {
    rng: Rng,
    place: Place,
    /// The day the data set is as of: no 異動 is later.
    pub as_of: NaiveDate,
    /// The last day of the history window (no 届出 is later).
    end: NaiveDate,
    next_resident: u64,
    members: Vec<Member>,
    households: Vec<Household>,
}

/// Options of [`generate`].
#[derive(Clone, Debug)]
pub struct Options {
    pub municipality: TenantCode,
    pub population: usize,
    pub seed: u64,
    pub as_of: NaiveDate,
    /// Days of 異動 history before `as_of` (a year: 365).
    pub history_days: u32,
}

/// A generated data set.
pub struct Generated {
    pub place: Place,
    pub gaiji: GaijiTable,
    /// In ledger order: the register at the start of the history window,
    /// then the 異動 of the window by date.
    pub events: Vec<Dated>,
    /// 印鑑登録 events, in ledger order (after `events`).
    pub seals: Vec<DatedSeal>,
    /// The 公印.
    pub official_seal: Option<Vec<u8>>,
}

impl Generated {
    /// What to write ([`crate::write_dir`]).
    pub fn contents(&self) -> crate::Contents<'_> {
        crate::Contents {
            gaiji: &self.gaiji,
            events: &self.events,
            seals: &self.seals,
            official_seal: self.official_seal.as_deref(),
        }
    }
}

/// Generates a municipality: `population` residents registered at the start
/// of the history window, then its 異動 (the population at the end differs
/// a little, as in a real year).
pub fn generate(opts: &Options) -> Generated {
    let start = opts.as_of - Days::new(u64::from(opts.history_days));
    let mut g = Generator::new(opts.seed, Place::of(&opts.municipality), start);
    let mut events = Vec::with_capacity(opts.population + opts.population / 5);
    while g.members.len() < opts.population {
        let want = opts.population - g.members.len();
        events.extend(g.household(want, None));
    }
    events.extend(g.history(start, opts.as_of));
    let seals = seals(&events, opts.seed, opts.as_of);
    Generated {
        place: g.place,
        gaiji: gaiji_table(),
        events,
        seals,
        official_seal: Some(official_seal(opts.seed)),
    }
}

/// Weighted age of a household head, by household type, from the census
/// shape: many older single and couple households, families in between.
fn head_age(rng: &mut Rng, kind: usize) -> i64 {
    match kind {
        // single: young or old
        0 => {
            if rng.chance(330) {
                rng.range(19, 39)
            } else if rng.chance(300) {
                rng.range(40, 64)
            } else {
                rng.range(65, 98)
            }
        }
        // couple
        1 => {
            if rng.chance(720) {
                rng.range(62, 94)
            } else {
                rng.range(24, 59)
            }
        }
        // couple and children, single parent
        2 | 3 => rng.range(27, 58),
        // three generations
        _ => rng.range(38, 62),
    }
}

/// The 宛名番号 a generated person gets with their entry, as a source system would have given
/// it: the ten-digit body of the 住民票コード as the serial (so it is unique), then the check
/// digit.
fn addressee_number_of(resident_code: &str, effective: NaiveDate) -> Dated {
    let serial = format!("{:0>14}", resident_code.get(..10).unwrap_or_default());
    Dated {
        effective,
        event: ResidentEvent::AddresseeNumberAssigned {
            resident_code: resident_code.to_string(),
            addressee_number: format!("{serial}{}", murakumo_resident::m11_check_digit(&serial)),
        },
    }
}

impl Generator {
    /// Registers residents as of `as_of` (their 転入/出生 lie before it).
    pub fn new(seed: u64, place: Place, as_of: NaiveDate) -> Generator {
        Generator {
            rng: Rng::new(seed),
            place,
            as_of,
            end: as_of,
            next_resident: 1,
            members: Vec::new(),
            households: Vec::new(),
        }
    }

    fn resident_code(&mut self) -> String {
        let n = self.next_resident;
        self.next_resident += 1;
        ResidentCode::from_ten_digits(&format!("{:010}", 1_000_000_000 + n))
            .map(|c| c.as_str().to_string())
            .unwrap_or_default()
    }

    fn address(&mut self) -> (String, String) {
        let town = self.rng.pick(&self.place.towns).clone();
        let chome = if town.chome {
            format!("{}丁目", kanji_number(1 + self.rng.below(6)))
        } else {
            String::new()
        };
        let address = format!(
            "{}{}{}{}番{}号",
            self.place.full_name(),
            town.name,
            chome,
            1 + self.rng.below(40),
            1 + self.rng.below(30)
        );
        let katagaki = if self.rng.chance(300) {
            format!(
                "{}{}号室",
                self.rng.pick(names::BUILDINGS),
                101 + self.rng.below(5) * 100 + self.rng.below(8)
            )
        } else {
            String::new()
        };
        (address, katagaki)
    }

    fn family_name(&mut self) -> (String, String) {
        let roll = self.rng.below(1000);
        let (n, k) = if roll < 15 {
            *self.rng.pick(names::FAMILY_GAIJI)
        } else if roll < 50 {
            *self.rng.pick(names::FAMILY_RARE)
        } else {
            let total: u32 = names::FAMILY.iter().map(|f| f.2).sum();
            let mut at = self.rng.below(total as usize) as u32;
            let mut pick = names::FAMILY[0];
            for f in names::FAMILY {
                if at < f.2 {
                    pick = *f;
                    break;
                }
                at -= f.2;
            }
            (pick.0, pick.1)
        };
        (n.to_string(), k.to_string())
    }

    fn given_name(&mut self, sex: Sex) -> (String, String) {
        if sex == Sex::Male && self.rng.chance(5) {
            let (n, k) = names::GIVEN_GAIJI;
            return (n.into(), k.into());
        }
        let (n, k) = *self.rng.pick(match sex {
            Sex::Male => names::GIVEN_MALE,
            _ => names::GIVEN_FEMALE,
        });
        (n.into(), k.into())
    }

    fn birth(&mut self, age: i64, on: NaiveDate) -> NaiveDate {
        let age = age.clamp(0, 105);
        let latest = on - Days::new((age * 365) as u64);
        let d = latest - Days::new(self.rng.below(364) as u64);
        d.max(NaiveDate::from_ymd_opt(1915, 1, 1).unwrap_or(d))
    }

    /// One household of at most `max` people entering the register: before
    /// `self.as_of` (the initial register) or on `date` (a 転入 during the
    /// history window).
    fn household(&mut self, max: usize, date: Option<NaiveDate>) -> Vec<Dated> {
        let on = date.unwrap_or(self.as_of);
        let kind = match self.rng.below(100) {
            0..=37 => 0,
            38..=57 => 1,
            58..=82 => 2,
            83..=91 => 3,
            _ => 4,
        };
        let foreign = self.rng.chance(22).then(|| *self.rng.pick(names::FOREIGN));
        let (family_name, family_kana) = match foreign {
            Some(f) => (f.1.to_string(), f.3.to_string()),
            None => self.family_name(),
        };
        let head_sex = if kind == 3 || self.rng.chance(500) {
            if self.rng.chance(800) && kind == 3 {
                Sex::Female
            } else if self.rng.chance(500) {
                Sex::Male
            } else {
                Sex::Female
            }
        } else {
            Sex::Male
        };
        let age = head_age(&mut self.rng, kind);
        let mut people: Vec<(&str, Sex, i64)> = vec![("世帯主", head_sex, age)];
        if matches!(kind, 1 | 2 | 4) {
            let other = if head_sex == Sex::Male {
                Sex::Female
            } else {
                Sex::Male
            };
            let rel = if head_sex == Sex::Male { "妻" } else { "夫" };
            people.push((rel, other, (age + self.rng.range(-4, 4)).max(19)));
        }
        if matches!(kind, 2..=4) {
            let n = 1 + self.rng.below(if kind == 2 { 3 } else { 2 });
            for _ in 0..n {
                let sex = if self.rng.chance(500) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                let child_age = self.rng.range(0, (age - 22).clamp(0, 30));
                people.push(("子", sex, child_age));
            }
        }
        if kind == 4 {
            let sex = if self.rng.chance(650) {
                Sex::Female
            } else {
                Sex::Male
            };
            let rel = if sex == Sex::Female { "母" } else { "父" };
            people.push((rel, sex, (age + self.rng.range(24, 34)).min(104)));
        }
        people.truncate(max.max(1));
        let (address, katagaki) = self.address();
        let hid = self.households.len();
        let household_id = format!("{:010}", hid + 1);
        let honseki = format!(
            "{}{}{}番地",
            self.place.full_name(),
            self.rng.pick(&self.place.towns).name.clone(),
            1 + self.rng.below(300)
        );
        let previous = self.rng.pick(names::ELSEWHERE).to_string();
        // Born here or moved in, and when.
        let moved_in_at = match date {
            Some(d) => Some(d),
            None => {
                (!self.rng.chance(350)).then(|| on - Days::new(1 + self.rng.below(20 * 365) as u64))
            }
        };
        let mut out = Vec::new();
        let mut hittosha = String::new();
        let mut members = Vec::new();
        for (relationship, sex, age) in people {
            let (given_name, given_kana) = match foreign {
                Some(f) => (f.2.to_string(), f.4.to_string()),
                None => self.given_name(sex),
            };
            if hittosha.is_empty() {
                hittosha = format!("{family_name}　{given_name}");
            }
            let birth = self.birth(age, on);
            let code = self.resident_code();
            let (effective, reason) = match moved_in_at {
                Some(d) if d > birth => (
                    d,
                    EntryReason::MoveIn {
                        previous_address: previous.clone(),
                    },
                ),
                _ => (birth, EntryReason::Birth),
            };
            let latest = if date.is_some() { self.end } else { self.as_of };
            let notified = (effective + Days::new(self.rng.below(10) as u64)).min(latest);
            let citizenship = match foreign {
                Some(f) => Citizenship::Foreign {
                    nationality: f.0.into(),
                    residence_status: f.6.into(),
                    period_until: (f.6 != "永住者" && f.6 != "特別永住者")
                        .then(|| on + Days::new(365 + self.rng.below(3 * 365) as u64)),
                },
                None => Citizenship::Japanese {
                    honseki: honseki.clone(),
                    hittosha: hittosha.clone(),
                },
            };
            let person = Person {
                family_name: family_name.clone(),
                given_name: given_name.clone(),
                family_kana: family_kana.clone(),
                given_kana: given_kana.clone(),
                romaji: foreign.map(|f| f.5.to_string()),
                alias: None,
                birth_date: birth,
                sex,
                citizenship,
            };
            members.push(self.members.len());
            self.members.push(Member {
                code: code.clone(),
                household: hid,
                relationship: relationship.into(),
                birth,
                sex,
                current: true,
                family_name: family_name.clone(),
                family_kana: family_kana.clone(),
                given_name,
                given_kana,
                protected: false,
            });
            let numbered = addressee_number_of(&code, effective);
            out.push(Dated {
                effective,
                event: ResidentEvent::Entered {
                    resident_code: code,
                    household_id: household_id.clone(),
                    relationship: relationship.into(),
                    person,
                    address: address.clone(),
                    katagaki: katagaki.clone(),
                    reason,
                    notified_date: notified,
                },
            });
            out.push(numbered);
        }
        self.households.push(Household {
            id: household_id,
            address,
            katagaki,
            members,
        });
        out
    }

    /// A current resident, preferring those `min_age` or older on `on`.
    fn someone(&mut self, min_age: i64, on: NaiveDate) -> Option<usize> {
        for _ in 0..64 {
            let i = self.rng.below(self.members.len());
            let m = &self.members[i];
            if m.current && (on - m.birth).num_days() / 365 >= min_age {
                return Some(i);
            }
        }
        None
    }

    fn current_members(&self, h: usize) -> Vec<usize> {
        self.households[h]
            .members
            .iter()
            .copied()
            .filter(|&i| self.members[i].current)
            .collect()
    }

    /// The 異動 of the window `(from, to]`, day by day, at yearly rates per
    /// 1,000 residents like a Japanese town's: births 7, deaths 11, moves in
    /// and out 40 each, moves within 45, marriages 4, household changes 3,
    /// corrections 1, 支援措置 0.5.
    pub fn history(&mut self, from: NaiveDate, to: NaiveDate) -> Vec<Dated> {
        self.end = to;
        let mut out = Vec::new();
        let mut day = from + Days::new(1);
        // Rates per million residents per day.
        let per_day = |per_mille_year: f64| per_mille_year * 1000.0 / 365.0;
        let mut acc = [0.0f64; 9];
        let rates = [
            per_day(7.0),
            per_day(11.0),
            per_day(40.0 / 2.2),
            per_day(40.0 / 2.2),
            per_day(45.0 / 2.2),
            per_day(4.0),
            per_day(3.0),
            per_day(1.0),
            per_day(0.5),
        ];
        while day <= to {
            let population = self.members.iter().filter(|m| m.current).count() as f64;
            for (k, rate) in rates.iter().enumerate() {
                acc[k] += rate * population / 1_000_000.0;
                while acc[k] >= 1.0 {
                    acc[k] -= 1.0;
                    self.one_change(k, day, &mut out);
                }
            }
            day = day + Days::new(1);
        }
        out
    }

    /// A 届出日 on or a few days after `day`, never after the window.
    fn notified(&mut self, day: NaiveDate) -> NaiveDate {
        (day + Days::new(self.rng.below(7) as u64)).min(self.end.max(day))
    }

    fn one_change(&mut self, kind: usize, day: NaiveDate, out: &mut Vec<Dated>) {
        match kind {
            // 出生: to a household with a parent of 20–45.
            0 => {
                let Some(p) = self.someone(20, day) else {
                    return;
                };
                let age = (day - self.members[p].birth).num_days() / 365;
                if age > 45 {
                    return;
                }
                let h = self.members[p].household;
                let sex = if self.rng.chance(512) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                let (given_name, given_kana) = self.given_name(sex);
                let code = self.resident_code();
                let parent = self.members[p].clone();
                let hh = self.households[h].clone();
                let head = hh
                    .members
                    .iter()
                    .map(|&i| &self.members[i])
                    .find(|m| m.relationship == "世帯主" && m.current)
                    .cloned()
                    .unwrap_or_else(|| parent.clone());
                let relationship = if parent.relationship == "世帯主"
                    || parent.relationship == "妻"
                    || parent.relationship == "夫"
                {
                    "子"
                } else {
                    "孫"
                };
                let i = self.members.len();
                self.members.push(Member {
                    code: code.clone(),
                    household: h,
                    relationship: relationship.into(),
                    birth: day,
                    sex,
                    current: true,
                    family_name: parent.family_name.clone(),
                    family_kana: parent.family_kana.clone(),
                    given_name: given_name.clone(),
                    given_kana: given_kana.clone(),
                    protected: false,
                });
                self.households[h].members.push(i);
                let notified = self.notified(day);
                let numbered = addressee_number_of(&code, day);
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::Entered {
                        resident_code: code,
                        household_id: hh.id.clone(),
                        relationship: relationship.into(),
                        person: Person {
                            family_name: parent.family_name,
                            given_name,
                            family_kana: parent.family_kana,
                            given_kana,
                            romaji: None,
                            alias: None,
                            birth_date: day,
                            sex,
                            citizenship: Citizenship::Japanese {
                                honseki: format!("{}{}", self.place.full_name(), "一番地"),
                                hittosha: format!("{}　{}", head.family_name, head.given_name),
                            },
                        },
                        address: hh.address,
                        katagaki: hh.katagaki,
                        reason: EntryReason::Birth,
                        notified_date: notified,
                    },
                });
                out.push(numbered);
            }
            // 死亡, and a new 世帯主 if the head died.
            1 => {
                let Some(p) = self.someone(70, day) else {
                    return;
                };
                self.members[p].current = false;
                let notified = self.notified(day);
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::Removed {
                        resident_code: self.members[p].code.clone(),
                        reason: RemovalReason::Died,
                        notified_date: notified,
                    },
                });
                if self.members[p].relationship == "世帯主" {
                    let h = self.members[p].household;
                    if let Some(&next) = self.current_members(h).first() {
                        self.members[next].relationship = "世帯主".into();
                        out.push(Dated {
                            effective: day,
                            event: ResidentEvent::HouseholdChanged {
                                resident_code: self.members[next].code.clone(),
                                household_id: self.households[h].id.clone(),
                                relationship: "世帯主".into(),
                                notified_date: notified,
                            },
                        });
                    }
                }
            }
            // 転入 of a household.
            2 => {
                let events = self.household(6, Some(day));
                out.extend(events);
            }
            // 転出 of a household: 転出予定 (届出 on the day, so that no
            // 異動 predates a member's entry), then 転出確定.
            3 => {
                let Some(p) = self.someone(0, day) else {
                    return;
                };
                let h = self.members[p].household;
                let destination = self.rng.pick(names::ELSEWHERE).to_string();
                let notified = day;
                for i in self.current_members(h) {
                    self.members[i].current = false;
                    let code = self.members[i].code.clone();
                    out.push(Dated {
                        effective: notified,
                        event: ResidentEvent::MoveOutPlanned {
                            resident_code: code.clone(),
                            planned_date: day,
                            destination: destination.clone(),
                            notified_date: notified,
                        },
                    });
                    out.push(Dated {
                        effective: day,
                        event: ResidentEvent::Removed {
                            resident_code: code,
                            reason: RemovalReason::MovedOut {
                                destination: destination.clone(),
                            },
                            notified_date: day,
                        },
                    });
                }
            }
            // 転居 of a household.
            4 => {
                let Some(p) = self.someone(0, day) else {
                    return;
                };
                let h = self.members[p].household;
                let (address, katagaki) = self.address();
                if address == self.households[h].address {
                    return;
                }
                self.households[h].address = address.clone();
                self.households[h].katagaki = katagaki.clone();
                let notified = self.notified(day);
                for i in self.current_members(h) {
                    out.push(Dated {
                        effective: day,
                        event: ResidentEvent::Relocated {
                            resident_code: self.members[i].code.clone(),
                            address: address.clone(),
                            katagaki: katagaki.clone(),
                            notified_date: notified,
                        },
                    });
                }
            }
            // 氏名変更 (婚姻): a woman of 20–45 takes a new family name.
            5 => {
                let Some(p) = self.someone(20, day) else {
                    return;
                };
                let m = &self.members[p];
                if m.sex != Sex::Female || (day - m.birth).num_days() / 365 > 45 {
                    return;
                }
                let (family_name, family_kana) = self.family_name();
                let m = &mut self.members[p];
                if family_name == m.family_name {
                    return;
                }
                m.family_name = family_name.clone();
                m.family_kana = family_kana.clone();
                let (code, given_name, given_kana) =
                    (m.code.clone(), m.given_name.clone(), m.given_kana.clone());
                let notified = self.notified(day);
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::NameChanged {
                        resident_code: code,
                        family_name,
                        given_name,
                        family_kana,
                        given_kana,
                        notified_date: notified,
                    },
                });
            }
            // 世帯分離: an adult child starts a household at the same address.
            6 => {
                let Some(p) = self.someone(18, day) else {
                    return;
                };
                if self.members[p].relationship != "子" {
                    return;
                }
                let old = self.members[p].household;
                let hid = self.households.len();
                let id = format!("{:010}", hid + 1);
                self.households.push(Household {
                    id: id.clone(),
                    address: self.households[old].address.clone(),
                    katagaki: self.households[old].katagaki.clone(),
                    members: vec![p],
                });
                self.households[old].members.retain(|&i| i != p);
                self.members[p].household = hid;
                self.members[p].relationship = "世帯主".into();
                let notified = self.notified(day);
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::HouseholdChanged {
                        resident_code: self.members[p].code.clone(),
                        household_id: id,
                        relationship: "世帯主".into(),
                        notified_date: notified,
                    },
                });
            }
            // 職権修正 of a フリガナ.
            7 => {
                let Some(p) = self.someone(0, day) else {
                    return;
                };
                let m = &self.members[p];
                if m.given_kana.is_empty() {
                    return;
                }
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::Corrected {
                        resident_code: m.code.clone(),
                        field: "given_kana".into(),
                        value: m.given_kana.clone(),
                        reason: "戸籍照合による確認".into(),
                    },
                });
            }
            // 支援措置 for a year.
            _ => {
                let Some(p) = self.someone(18, day) else {
                    return;
                };
                if self.members[p].protected {
                    return;
                }
                self.members[p].protected = true;
                out.push(Dated {
                    effective: day,
                    event: ResidentEvent::ProtectionSet {
                        resident_code: self.members[p].code.clone(),
                        until: day + Days::new(365),
                        reason: if self.rng.chance(700) {
                            "DV"
                        } else {
                            "ストーカー"
                        }
                        .into(),
                    },
                });
            }
        }
    }

    /// The next household's 転入 (for benchmarks that need only a register).
    pub fn next_household(&mut self) -> Vec<Dated> {
        self.household(6, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::replay_all;

    fn opts(population: usize) -> Options {
        Options {
            municipality: TenantCode::parse("362018").expect("code"),
            population,
            seed: 7,
            as_of: NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"),
            history_days: 365,
        }
    }

    #[test]
    fn real_town_names_of_the_municipality() {
        let p = Place::of(&TenantCode::parse("362018").expect("code"));
        assert_eq!(p.full_name(), "徳島県徳島市");
        assert!(p.real_towns);
        assert!(p.towns.iter().any(|t| t.name == "北田宮"));
        let fukagawa = Place::of(&TenantCode::parse("012289").expect("code"));
        assert_eq!(fukagawa.full_name(), "北海道深川市");
    }

    #[test]
    fn deterministic_valid_and_realistic() {
        let a = generate(&opts(3_000));
        let b = generate(&opts(3_000));
        assert_eq!(a.events, b.events, "same seed, same data");
        let as_of = opts(0).as_of;
        // Every event passes the register's own validation, in order.
        // Households: one address and one 世帯主 each, checked as an
        // import checks them.
        let mut records = std::collections::HashMap::new();
        let mut kinds = std::collections::BTreeMap::new();
        let mut households = murakumo_resident::HouseholdBook::default();
        for d in &a.events {
            let code = d.event.resident_code().to_string();
            let current = records.get(&code);
            murakumo_resident::validate(&d.event, current, current, d.effective, as_of, 14)
                .unwrap_or_else(|e| panic!("{e}: {d:?}"));
            households
                .push(
                    || d.clone(),
                    &d.event,
                    d.effective,
                    current,
                    |c| records.get(c),
                )
                .unwrap_or_else(|(d, e)| panic!("{e}: {d:?}"));
            let before = current.map(|r| r.household_id.clone());
            let r =
                murakumo_resident::apply(current.cloned(), &d.event, d.effective).expect("applies");
            households.applied(before.as_deref(), &r);
            records.insert(code, r);
            *kinds.entry(d.event.label_ja()).or_insert(0) += 1;
        }
        households
            .finish()
            .unwrap_or_else(|(d, e)| panic!("{e}: {d:?}"));
        assert!(replay_all(&a.events).is_ok());
        for k in ["出生", "転入", "転出予定", "転出", "死亡", "転居"] {
            assert!(kinds.contains_key(k), "no {k} in {kinds:?}");
        }
        // 外字 occur, about 1–3 % of residents.
        let table = gaiji_table();
        let with_gaiji = records
            .values()
            .filter(|r| {
                table.entries().iter().any(|e| {
                    r.person.family_name.contains(&e.ucs) || r.person.given_name.contains(&e.ucs)
                })
            })
            .count();
        assert!(
            (10..200).contains(&with_gaiji),
            "{with_gaiji} residents with 外字"
        );
        // An age pyramid: children, working age and elderly all present.
        let ages: Vec<i64> = records
            .values()
            .map(|r| (as_of - r.person.birth_date).num_days() / 365)
            .collect();
        let share = |lo: i64, hi: i64| {
            ages.iter().filter(|a| (lo..=hi).contains(*a)).count() as f64 / ages.len() as f64
        };
        assert!(share(0, 14) > 0.05, "children {}", share(0, 14));
        assert!(share(65, 120) > 0.2, "elderly {}", share(65, 120));
        assert!(share(15, 64) > 0.4, "working age {}", share(15, 64));
    }

    #[test]
    fn seals_about_one_adult_in_ten_with_history_and_valid() {
        use murakumo_seal::{CancelReason, SealEvent};
        let a = generate(&opts(3_000));
        let b = generate(&opts(3_000));
        assert_eq!(a.seals, b.seals, "same seed, same seals");
        assert_eq!(a.official_seal, b.official_seal);
        let as_of = opts(0).as_of;
        // Every event passes the seal rules as an import checks them.
        let histories = crate::seal::Histories::new(&a.events);
        let mut book = crate::seal::SealBook::default();
        let (mut registered, mut lost, mut abolished, mut ex_officio) = (0, 0, 0, 0);
        for d in &a.seals {
            book.check(&histories, d, as_of)
                .unwrap_or_else(|e| panic!("{e:?}: {d:?}"));
            book.apply(d);
            match &d.event {
                SealEvent::Registered { .. } => registered += 1,
                SealEvent::Cancelled { reason, .. } => match reason {
                    CancelReason::CardLost => lost += 1,
                    CancelReason::Abolished => abolished += 1,
                    CancelReason::ExOfficio { .. } => ex_officio += 1,
                },
            }
        }
        let records = replay_all(&a.events).expect("replays");
        let adults = records
            .values()
            .filter(|r| (as_of - r.person.birth_date).num_days() / 365 >= 15)
            .count();
        let share = registered as f64 / adults as f64;
        assert!(
            (0.07..0.14).contains(&share),
            "{registered} of {adults} adults"
        );
        assert!(lost + abolished > 0, "no 亡失 or 廃止 in {registered}");
        assert!(ex_officio > 0, "no 職権抹消 in {registered}");
        // Numbers run in ledger order.
        let numbers: Vec<&str> = a
            .seals
            .iter()
            .filter(|d| matches!(d.event, SealEvent::Registered { .. }))
            .map(|d| d.event.registration_number())
            .collect();
        assert_eq!(numbers.first(), Some(&"S-0000001"));
        assert_eq!(
            numbers.last().map(|n| n.to_string()),
            Some(format!("S-{registered:07}"))
        );
    }
}
