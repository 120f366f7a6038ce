//! 世帯 (household) rules: a household lives at one address and has exactly
//! one 世帯主; a new household's 世帯番号 is the next in the municipality's
//! series.
//!
//! One request may carry several 異動 that only together keep the rules
//! (a 世帯主's 死亡 and the 世帯主変更 of the one who follows; a household's
//! 転居, one event per member), so the rules are checked on the state after
//! all of them: [`check_households`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::record::date_ja;
use crate::{Record, ResidentError, ResidentEvent, apply};

pub use crate::relationship::HEAD;

/// Width of a system-assigned 世帯番号: nine digits and a check digit.
const HOUSEHOLD_ID_DIGITS: usize = 10;

/// Whether `id` is a number of the system's series (ten digits). Numbers given before the
/// check digit (ten digits, all of them the number) belong to it too.
pub fn is_series_household_id(id: &str) -> bool {
    id.len() == HOUSEHOLD_ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the series number `id` ends in its check digit (標準仕様書 §1.1.13/M3: the last
/// digit by モジュラス11, weights 2–7, as the 宛名番号). A number given before the check
/// digit may not; the register keeps it as it is.
pub fn household_id_checks(id: &str) -> bool {
    is_series_household_id(id) && {
        let (body, check) = id.split_at(HOUSEHOLD_ID_DIGITS - 1);
        check == crate::m11_check_digit(body).to_string()
    }
}

/// The 世帯番号 of the next new household: the number after the highest of the series so
/// far (`None`: the first), nine digits and its モジュラス11 check digit. Derived from the
/// register, so a replay of the ledger gives the same numbers. The body is taken from the
/// highest's first nine digits, so a number given before the check digit (all ten digits
/// the number) stays below every new one and none is given twice.
pub fn next_household_id(highest: Option<&str>) -> String {
    let body = highest
        .filter(|h| is_series_household_id(h))
        .and_then(|h| h[..HOUSEHOLD_ID_DIGITS - 1].parse::<u64>().ok())
        .map_or(1, |b| b + 1);
    let body = format!("{body:0width$}", width = HOUSEHOLD_ID_DIGITS - 1);
    format!("{body}{}", crate::m11_check_digit(&body))
}

/// The households a request touches: those its people are in (their records
/// as of the 異動日, `persons`) and those its events name.
pub fn households_touched(events: &[ResidentEvent], persons: &[Record]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = persons
        .iter()
        .filter(|r| !r.is_removed())
        .map(|r| r.household_id.clone())
        .collect();
    for e in events {
        if let ResidentEvent::Entered { household_id, .. }
        | ResidentEvent::HouseholdChanged { household_id, .. } = e
        {
            out.insert(household_id.clone());
        }
    }
    out
}

fn invalid(field: &'static str, reason: String) -> ResidentError {
    ResidentError::Invalid { field, reason }
}

/// Checks the household rules on the state after `events` (one request, all
/// on the 異動日 `effective`).
///
/// `members`: every member of the households the request touches (see
/// [`households_touched`]), records as of the 異動日, the request's own
/// people included; 除票 are ignored. `new_household_id`: the only number a
/// new household may take when the system assigns numbers (the counter), or
/// `None` when the numbers come with the data (a migration).
pub fn check_households(
    events: &[ResidentEvent],
    members: &[Record],
    new_household_id: Option<&str>,
    effective: NaiveDate,
) -> Result<(), ResidentError> {
    let mut live: BTreeMap<String, Record> = members
        .iter()
        .filter(|r| !r.is_removed())
        .map(|r| (r.resident_code.clone(), r.clone()))
        .collect();
    let before = live.clone();
    let existing: BTreeSet<String> = live.values().map(|r| r.household_id.clone()).collect();
    let mut touched = BTreeSet::new();
    for (i, event) in events.iter().enumerate() {
        let code = event.resident_code();
        if let Some(r) = live.get(code) {
            touched.insert(r.household_id.clone());
        }
        if let ResidentEvent::Entered { household_id, .. }
        | ResidentEvent::HouseholdChanged { household_id, .. } = event
        {
            let new = !existing.contains(household_id);
            if new && new_household_id.is_some_and(|n| n != household_id) {
                if is_series_household_id(household_id) && !household_id_checks(household_id) {
                    return Err(invalid(
                        "household_id",
                        format!(
                            "世帯番号「{household_id}」の末尾のチェックデジットが合いません。番号を確かめてください(新しい世帯にするときは世帯番号を空欄にしてください)"
                        ),
                    ));
                }
                return Err(invalid(
                    "household_id",
                    format!(
                        "世帯番号「{household_id}」の世帯はありません(異動日 {} 時点)。既存の世帯に入るときはその世帯の世帯番号を、新しい世帯にするときは世帯番号を空欄にしてください(新しい世帯番号はシステムが付けます)",
                        date_ja(effective)
                    ),
                ));
            }
            touched.insert(household_id.clone());
        }
        let record = live.remove(code);
        if record.is_none() && !matches!(event, ResidentEvent::Entered { .. }) {
            // A follow-up (e.g. the new 世帯主) must be one of the household.
            return Err(invalid(
                if i == 0 { "resident_code" } else { "new_head" },
                format!(
                    "住民票コード {code} の方は、異動日 {} にこの世帯の住民ではありません",
                    date_ja(effective)
                ),
            ));
        }
        let after = apply(record, event, effective)?;
        if !after.is_removed() {
            live.insert(code.to_string(), after);
        }
    }
    for h in &touched {
        // A household the register already held broken (data from before
        // these rules) does not block an unrelated 異動.
        let was: Vec<&Record> = before.values().filter(|r| &r.household_id == h).collect();
        if fault(h, &was, &before, &[]).is_some() {
            continue;
        }
        let now: Vec<&Record> = live.values().filter(|r| &r.household_id == h).collect();
        if let Some(e) = fault(h, &now, &before, events) {
            return Err(e);
        }
    }
    Ok(())
}

/// What is wrong with household `h` whose members are `now`, after `events`
/// (`before`: everyone's records before them), if anything.
fn fault(
    h: &str,
    now: &[&Record],
    before: &BTreeMap<String, Record>,
    events: &[ResidentEvent],
) -> Option<ResidentError> {
    if now.is_empty() {
        return None;
    }
    let names = |rs: &[&Record]| {
        rs.iter()
            .map(|r| r.full_name())
            .collect::<Vec<_>>()
            .join("、")
    };
    let heads: Vec<&Record> = now
        .iter()
        .copied()
        .filter(|r| r.relationship == HEAD)
        .collect();
    if heads.is_empty() {
        // Who was 世帯主 before, and what happened to them.
        let old_head = before
            .values()
            .find(|r| r.household_id == h && r.relationship == HEAD);
        return Some(match old_head {
            Some(old) => {
                let what = events
                    .iter()
                    .find(|e| e.resident_code() == old.resident_code)
                    .map_or("異動".to_string(), |e| e.label_ja());
                invalid(
                    "new_head",
                    format!(
                        "世帯主の{}さんが{what}すると、世帯に残る{}人({})に世帯主がいなくなります。新しい世帯主の住民票コードを同じ届出で入力してください(世帯主変更)",
                        old.full_name(),
                        now.len(),
                        now.iter()
                            .map(|r| format!("{} {}", r.full_name(), r.resident_code))
                            .collect::<Vec<_>>()
                            .join("、")
                    ),
                )
            }
            None => invalid(
                "relationship",
                format!(
                    "世帯番号「{h}」の世帯に世帯主がいません。新しい世帯では最初の方の続柄を「世帯主」にしてください"
                ),
            ),
        });
    }
    if heads.len() > 1 {
        let old = heads
            .iter()
            .find(|r| {
                before
                    .get(&r.resident_code)
                    .is_some_and(|b| b.relationship == HEAD && b.household_id == h)
            })
            .unwrap_or(&heads[0]);
        let joining = events.iter().any(|e| {
            matches!(e, ResidentEvent::Entered { .. })
                || matches!(e, ResidentEvent::HouseholdChanged { resident_code, .. }
                    if before.get(resident_code).is_none_or(|b| b.household_id != h))
        });
        return Some(if joining {
            invalid(
                "relationship",
                format!(
                    "世帯番号「{h}」の世帯には世帯主({})がいます。この世帯に入る方の続柄は世帯主との関係(妻・子 など)で入力するか、世帯番号を空欄にして新しい世帯にしてください",
                    old.full_name()
                ),
            )
        } else {
            invalid(
                "former_head_relationship",
                format!(
                    "この世帯には世帯主({})がいます。世帯主を変更するときは、元の世帯主の新しい続柄(例: 父)も入力してください",
                    old.full_name()
                ),
            )
        });
    }
    let head = heads[0];
    let away: Vec<&Record> = now
        .iter()
        .copied()
        .filter(|r| r.address.text != head.address.text)
        .collect();
    if !away.is_empty() {
        let moved: BTreeSet<&str> = events
            .iter()
            .filter(|e| matches!(e, ResidentEvent::Relocated { .. }))
            .map(ResidentEvent::resident_code)
            .collect();
        let staying: Vec<&Record> = now
            .iter()
            .copied()
            .filter(|r| !moved.contains(r.resident_code.as_str()))
            .collect();
        return Some(if !moved.is_empty() && !staying.is_empty() {
            invalid(
                "household_move",
                format!(
                    "同じ世帯の{}人({})が元の住所に残ります。一つの世帯は一つの住所です。「世帯全員で転居」するか、「本人のみ(新しい世帯)」を選んでください",
                    staying.len(),
                    names(&staying)
                ),
            )
        } else {
            invalid(
                "household_id",
                format!(
                    "世帯番号「{h}」の世帯の住所は「{}」です。同じ世帯の方は同じ住所になります。世帯番号か住所を確認してください",
                    head.address.text
                ),
            )
        });
    }
    None
}

/// The household rules over a stream of 異動 in ledger order (a migration
/// import, the data generator's check), where no request groups them:
/// consecutive 異動 of one 異動日 that touch the same households are taken
/// as one request. Keeps only which live resident is in which household;
/// the caller keeps the records and applies the events.
///
/// `T` says where an 異動 came from (e.g. its file line), so that a broken
/// rule is reported at the first 異動 of its group.
#[derive(Debug)]
pub struct HouseholdBook<T> {
    members: std::collections::HashMap<String, BTreeSet<String>>,
    batch: Option<Batch<T>>,
}

#[derive(Debug)]
struct Batch<T> {
    origin: T,
    date: NaiveDate,
    households: BTreeSet<String>,
    events: Vec<ResidentEvent>,
    /// The touched households' members before the group.
    before: Vec<Record>,
}

impl<T> Default for HouseholdBook<T> {
    fn default() -> Self {
        HouseholdBook {
            members: Default::default(),
            batch: None,
        }
    }
}

impl<T> HouseholdBook<T> {
    /// Takes in the next 異動 before it is applied (`record`: the person's
    /// record then; `records`: everyone's). Closes, and checks, the group
    /// before it if this one is of another date or other households: the
    /// error is that group's, with its origin.
    pub fn push<'a>(
        &mut self,
        origin: impl FnOnce() -> T,
        event: &ResidentEvent,
        effective: NaiveDate,
        record: Option<&Record>,
        records: impl Fn(&str) -> Option<&'a Record>,
    ) -> Result<(), (T, ResidentError)> {
        let persons: Vec<Record> = record.into_iter().cloned().collect();
        let touched = households_touched(std::slice::from_ref(event), &persons);
        let joins = self
            .batch
            .as_ref()
            .is_some_and(|b| b.date == effective && !b.households.is_disjoint(&touched));
        let closed = if joins { Ok(()) } else { self.finish() };
        let batch = self.batch.get_or_insert_with(|| Batch {
            origin: origin(),
            date: effective,
            households: BTreeSet::new(),
            events: Vec::new(),
            before: Vec::new(),
        });
        for h in touched {
            if batch.households.insert(h.clone()) {
                for code in self.members.get(&h).into_iter().flatten() {
                    if let Some(r) = records(code)
                        && !batch.before.iter().any(|b| &b.resident_code == code)
                    {
                        batch.before.push(r.clone());
                    }
                }
            }
        }
        for p in persons {
            if !batch
                .before
                .iter()
                .any(|b| b.resident_code == p.resident_code)
            {
                batch.before.push(p);
            }
        }
        batch.events.push(event.clone());
        closed
    }

    /// After an 異動 is applied: where the person lives now
    /// (`before_household`: where they lived before it).
    pub fn applied(&mut self, before_household: Option<&str>, after: &Record) {
        if let Some(h) = before_household
            && let Some(set) = self.members.get_mut(h)
        {
            set.remove(&after.resident_code);
        }
        if !after.is_removed() {
            self.members
                .entry(after.household_id.clone())
                .or_default()
                .insert(after.resident_code.clone());
        }
    }

    /// Checks the open group (call at the end of the stream).
    pub fn finish(&mut self) -> Result<(), (T, ResidentError)> {
        match self.batch.take() {
            None => Ok(()),
            Some(b) => {
                check_households(&b.events, &b.before, None, b.date).map_err(|e| (b.origin, e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Citizenship, EntryReason, Person, RemovalReason, Sex};
    use murakumo_core::ResidentCode;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn code(n: u32) -> String {
        ResidentCode::from_ten_digits(&format!("{:010}", 1_234_567_000 + n))
            .expect("valid")
            .as_str()
            .to_string()
    }

    fn enter(n: u32, household: &str, rel: &str, address: &str) -> ResidentEvent {
        ResidentEvent::Entered {
            resident_code: code(n),
            household_id: household.into(),
            relationship: rel.into(),
            person: Person {
                family_name: "山田".into(),
                given_name: format!("{n}郎"),
                family_kana: "ヤマダ".into(),
                given_kana: "タロウ".into(),
                romaji: None,
                alias: None,
                birth_date: d(1980, 1, 2),
                sex: Sex::Male,
                citizenship: Citizenship::Japanese {
                    honseki: "北海道深川市".into(),
                    hittosha: "山田太郎".into(),
                },
            },
            address: address.into(),
            katagaki: String::new(),
            reason: EntryReason::MoveIn {
                previous_address: "札幌市".into(),
            },
            notified_date: d(2026, 4, 1),
        }
    }

    const A: &str = "北海道深川市1条1番1号";
    const B: &str = "北海道深川市2条2番2号";
    const H: &str = "0000000001";

    /// A household of a head (1), wife (2) and child (3) at A.
    fn family() -> Vec<Record> {
        [(1, HEAD), (2, "妻"), (3, "子")]
            .iter()
            .map(|(n, rel)| apply(None, &enter(*n, H, rel, A), d(2026, 4, 1)).expect("applies"))
            .collect()
    }

    fn check(events: &[ResidentEvent], members: &[Record]) -> Result<(), ResidentError> {
        check_households(events, members, Some("0000000002"), d(2026, 5, 1))
    }

    fn field(r: Result<(), ResidentError>) -> &'static str {
        match r {
            Err(ResidentError::Invalid { field, .. }) => field,
            other => panic!("not refused with a field: {other:?}"),
        }
    }

    fn relocate(n: u32) -> ResidentEvent {
        ResidentEvent::Relocated {
            resident_code: code(n),
            address: B.into(),
            katagaki: String::new(),
            notified_date: d(2026, 5, 1),
        }
    }

    fn household(n: u32, h: &str, rel: &str) -> ResidentEvent {
        ResidentEvent::HouseholdChanged {
            resident_code: code(n),
            household_id: h.into(),
            relationship: rel.into(),
            notified_date: d(2026, 5, 1),
        }
    }

    fn removed(n: u32, reason: RemovalReason) -> ResidentEvent {
        ResidentEvent::Removed {
            resident_code: code(n),
            reason,
            notified_date: d(2026, 5, 1),
        }
    }

    #[test]
    fn household_numbers_run_in_series_and_end_in_a_check_digit() {
        // モジュラス11, weights 2–7 from the right: 1×2 = 2, 11 − 2 = 9.
        assert_eq!(next_household_id(None), "0000000019");
        assert_eq!(next_household_id(Some("0000000019")), "0000000027");
        assert_eq!(next_household_id(Some("NOPE123")), "0000000019");
        // After numbers given before the check digit: above every one of them.
        assert_eq!(next_household_id(Some("0000000041")), "0000000051");
        assert!("0000000051" > "0000000049");
        assert!(is_series_household_id("0000000042"));
        let mut id = None;
        for _ in 0..200 {
            let next = next_household_id(id.as_deref());
            assert!(household_id_checks(&next), "{next}");
            assert!(id.as_deref().is_none_or(|h| next.as_str() > h));
            id = Some(next);
        }
        assert!(!household_id_checks("0000000018"));
        assert!(!household_id_checks("000000001"));
        assert!(!is_series_household_id("H1"));
    }

    #[test]
    fn a_head_relocating_alone_leaves_the_household_behind() {
        let f = family();
        assert_eq!(field(check(&[relocate(1)], &f)), "household_move");
        // The whole household moves: fine.
        assert_eq!(check(&[relocate(1), relocate(2), relocate(3)], &f), Ok(()));
        // The child moves alone into a new household of its own: fine.
        assert_eq!(
            check(&[relocate(3), household(3, "0000000002", HEAD)], &f),
            Ok(())
        );
        // The head moves alone: the others need a new head.
        assert_eq!(
            field(check(&[relocate(1), household(1, "0000000002", HEAD)], &f)),
            "new_head"
        );
        assert_eq!(
            check(
                &[
                    relocate(1),
                    household(1, "0000000002", HEAD),
                    household(2, H, HEAD)
                ],
                &f
            ),
            Ok(())
        );
    }

    #[test]
    fn one_head_per_household() {
        let f = family();
        // 世帯変更 making the wife a second head.
        assert_eq!(
            field(check(&[household(2, H, HEAD)], &f)),
            "former_head_relationship"
        );
        // 世帯主変更 with the former head's new 続柄: fine.
        assert_eq!(
            check(&[household(2, H, HEAD), household(1, H, "夫")], &f),
            Ok(())
        );
        // 転入 of a second head into the household.
        assert_eq!(field(check(&[enter(4, H, HEAD, A)], &f)), "relationship");
        assert_eq!(check(&[enter(4, H, "子", A)], &f), Ok(()));
        // A new household must start with its head.
        assert_eq!(
            field(check(&[enter(4, "0000000002", "子", A)], &[])),
            "relationship"
        );
        assert_eq!(check(&[enter(4, "0000000002", HEAD, A)], &[]), Ok(()));
    }

    #[test]
    fn new_households_take_the_system_number() {
        let f = family();
        assert_eq!(
            field(check(&[enter(4, "NOPE123", HEAD, A)], &f)),
            "household_id"
        );
        assert_eq!(
            field(check(&[household(3, "NOPE123", HEAD)], &f)),
            "household_id"
        );
        // A migration brings its own numbers.
        assert_eq!(
            check_households(&[enter(4, "NOPE123", HEAD, A)], &f, None, d(2026, 5, 1)),
            Ok(())
        );
        // A 世帯番号 of the series typed wrong is told by its check digit.
        match check(&[household(3, "0000000018", HEAD)], &f) {
            Err(ResidentError::Invalid { field, reason }) => {
                assert_eq!(field, "household_id");
                assert!(reason.contains("チェックデジット"), "{reason}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn joining_a_household_at_another_address_is_refused() {
        let f = family();
        assert_eq!(field(check(&[enter(4, H, "子", B)], &f)), "household_id");
        let mut other =
            apply(None, &enter(9, "0000000005", HEAD, B), d(2026, 4, 1)).expect("applies");
        other.household_id = "0000000005".into();
        let mut all = f.clone();
        all.push(other);
        assert_eq!(field(check(&[household(9, H, "子")], &all)), "household_id");
    }

    #[test]
    fn a_stream_is_checked_in_groups_of_one_date_and_household() {
        use std::collections::HashMap;
        let run = |events: &[(ResidentEvent, NaiveDate)]| {
            let mut records: HashMap<String, Record> = HashMap::new();
            let mut book = HouseholdBook::default();
            for (i, (e, d)) in events.iter().enumerate() {
                let current = records.get(e.resident_code());
                book.push(|| i, e, *d, current, |c| records.get(c))?;
                let before = current.map(|r| r.household_id.clone());
                let r = apply(current.cloned(), e, *d).expect("applies");
                book.applied(before.as_deref(), &r);
                records.insert(r.resident_code.clone(), r);
            }
            book.finish()
        };
        let mut events: Vec<(ResidentEvent, NaiveDate)> = [(1, HEAD), (2, "妻")]
            .iter()
            .map(|(n, rel)| (enter(*n, H, rel, A), d(2026, 4, 1)))
            .collect();
        assert_eq!(run(&events), Ok(()));
        // The 世帯主 dies and nobody follows: refused at the death.
        events.push((removed(1, RemovalReason::Died), d(2026, 5, 1)));
        let Err((at, ResidentError::Invalid { field, .. })) = run(&events) else {
            panic!("a household without head was accepted");
        };
        assert_eq!((at, field), (2, "new_head"));
        // Followed on the same day by the new 世帯主: one group, fine.
        events.push((household(2, H, HEAD), d(2026, 5, 1)));
        assert_eq!(run(&events), Ok(()));
        // A 転居 of one member on another day splits the household.
        events.push((enter(3, H, "子", A), d(2026, 5, 2)));
        events.push((relocate(3), d(2026, 5, 3)));
        assert!(matches!(run(&events), Err((5, _))));
    }

    #[test]
    fn a_household_broken_before_the_rules_does_not_block_other_changes() {
        let mut f = family();
        f[1].relationship = HEAD.into();
        let rename = ResidentEvent::NameChanged {
            resident_code: code(3),
            family_name: "鈴木".into(),
            given_name: "三郎".into(),
            family_kana: "スズキ".into(),
            given_kana: "サブロウ".into(),
            notified_date: d(2026, 5, 1),
        };
        assert_eq!(check(&[rename], &f), Ok(()));
    }

    #[test]
    fn a_head_who_dies_or_moves_out_is_followed_in_the_same_request() {
        let f = family();
        for reason in [
            RemovalReason::Died,
            RemovalReason::MovedOut {
                destination: "東京都".into(),
            },
        ] {
            let Err(ResidentError::Invalid { field, reason: msg }) =
                check(&[removed(1, reason.clone())], &f)
            else {
                panic!("accepted a household without head");
            };
            assert_eq!(field, "new_head");
            assert!(msg.contains("世帯主がいなくなります"), "{msg}");
            assert_eq!(
                check(&[removed(1, reason), household(2, H, HEAD)], &f),
                Ok(())
            );
        }
        // The last member leaving: no household left, nothing to follow.
        let alone = vec![f[0].clone()];
        assert_eq!(check(&[removed(1, RemovalReason::Died)], &alone), Ok(()));
        // A new head from another household is refused.
        assert_eq!(
            field(check(
                &[removed(1, RemovalReason::Died), household(7, H, HEAD)],
                &f
            )),
            "new_head"
        );
    }
}
