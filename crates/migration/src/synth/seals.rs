//! Synthetic 印鑑登録: about one resident in ten of 15 or more registers a
//! seal at some time while a resident; a few lose their card (亡失) or end
//! the registration (廃止), most of them registering a new seal after
//! (改印); a registrant who leaves or dies has it ended ex officio (職権抹消)
//! on that day. Every event passes the seal crate's checks against the
//! register as of its date, as an import checks it. Numbers run `S-0000001`
//! and cards `C-0000001` in ledger order, so the platform's own numbering
//! continues after them.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, Months, NaiveDate};
use murakumo_resident::ResidentEvent;
use murakumo_seal::{CancelReason, SealEvent, sample_impression};

use super::Rng;
use crate::convert::Dated;
use crate::seal::{DatedSeal, Histories, SealBook};

/// What the generator knows of one resident's life in the register.
struct Life {
    birth: NaiveDate,
    entered: NaiveDate,
    /// The first day not a current resident (転出予定 or 除票).
    left: Option<NaiveDate>,
    /// 除票: the day and the reason's label (転出, 死亡, 職権消除).
    removed: Option<(NaiveDate, &'static str)>,
}

enum Plan {
    Register { id: usize },
    Cancel { id: usize, reason: CancelReason },
}

/// A planned event: on `day`, cancellations before registrations, then in
/// the order planned.
struct Planned<'a> {
    day: NaiveDate,
    order: (u8, usize),
    plan: Plan,
    code: &'a str,
    notified: NaiveDate,
}

/// Registrations and their history for the residents of `events` (in
/// ledger order), none after `as_of`.
pub fn seals(events: &[Dated], seed: u64, as_of: NaiveDate) -> Vec<DatedSeal> {
    let mut rng = Rng::new(seed ^ 0x1A4C_A4E0_5EA1_0001);
    let mut lives: BTreeMap<&str, Life> = BTreeMap::new();
    for d in events {
        let code = d.event.resident_code();
        match &d.event {
            ResidentEvent::Entered { person, .. } => {
                lives.entry(code).or_insert(Life {
                    birth: person.birth_date,
                    entered: d.effective,
                    left: None,
                    removed: None,
                });
            }
            ResidentEvent::MoveOutPlanned { .. } | ResidentEvent::Removed { .. } => {
                if let Some(l) = lives.get_mut(code) {
                    l.left = Some(l.left.map_or(d.effective, |x| x.min(d.effective)));
                    if let ResidentEvent::Removed { reason, .. } = &d.event {
                        l.removed.get_or_insert((d.effective, reason.label_ja()));
                    }
                }
            }
            _ => {}
        }
    }
    let mut plans: Vec<Planned<'_>> = Vec::new();
    let oldest = as_of
        .checked_sub_months(Months::new(12 * 30))
        .unwrap_or(as_of);
    let mut next_id = 0usize;
    for (&code, life) in &lives {
        let adult = life
            .birth
            .checked_add_months(Months::new(12 * 15))
            .unwrap_or(NaiveDate::MAX);
        let from = life.entered.max(adult).max(oldest);
        let to = life
            .left
            .and_then(|l| l.checked_sub_days(Days::new(1)))
            .unwrap_or(as_of)
            .min(as_of);
        if from > to || !rng.chance(100) {
            continue;
        }
        let span = |rng: &mut Rng, a: NaiveDate, b: NaiveDate| {
            a + Days::new(rng.below(((b - a).num_days() + 1).max(1) as usize) as u64)
        };
        let mut on = span(&mut rng, from, to);
        let mut id = next_id;
        next_id += 1;
        let at = |plans: &mut Vec<_>, day: NaiveDate, plan: Plan, notified: NaiveDate| {
            let order = (u8::from(matches!(plan, Plan::Register { .. })), plans.len());
            plans.push(Planned {
                day,
                order,
                plan,
                code,
                notified,
            });
        };
        at(&mut plans, on, Plan::Register { id }, on);
        let mut ended = false;
        for _ in 0..2 {
            let reason = if rng.chance(30) {
                CancelReason::CardLost
            } else if rng.chance(20) {
                CancelReason::Abolished
            } else {
                break;
            };
            let day = span(&mut rng, on, to);
            // 改印 (廃止 and a new seal) is usually the same day; after a lost
            // card, within a month.
            let again = match reason {
                CancelReason::Abolished => rng.chance(500).then_some(day),
                _ => rng
                    .chance(800)
                    .then(|| day + Days::new(rng.below(30) as u64))
                    .filter(|d| *d <= to),
            };
            at(&mut plans, day, Plan::Cancel { id, reason }, day);
            match again {
                Some(d) => {
                    on = d;
                    id = next_id;
                    next_id += 1;
                    at(&mut plans, on, Plan::Register { id }, on);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if let (false, Some((day, label))) = (ended, life.removed) {
            if day <= as_of {
                let notified = (day + Days::new(rng.below(7) as u64)).min(as_of);
                let reason = CancelReason::ExOfficio {
                    reason: format!("{label}による"),
                };
                at(&mut plans, day, Plan::Cancel { id, reason }, notified);
            }
        }
    }
    plans.sort_by_key(|p| (p.day, p.order));

    // Number them in ledger order and keep what the rules accept (all of
    // it, unless a 職権修正 of a birth date moved a 15th birthday).
    let histories = Histories::new(events);
    let mut book = SealBook::default();
    let mut numbers: HashMap<usize, String> = HashMap::new();
    let mut out = Vec::new();
    for Planned {
        day,
        plan,
        code,
        notified,
        ..
    } in plans
    {
        let event = match plan {
            Plan::Register { id } => {
                let n = book.len() + 1;
                let number = format!("S-{n:07}");
                numbers.insert(id, number.clone());
                SealEvent::Registered {
                    registration_number: number,
                    resident_code: code.to_string(),
                    card_number: format!("C-{n:07}"),
                    impression_png: sample_impression(seed.wrapping_mul(1_000_003) ^ n as u64),
                    notified_date: notified,
                }
            }
            Plan::Cancel { id, reason } => {
                let Some(number) = numbers.get(&id) else {
                    continue;
                };
                SealEvent::Cancelled {
                    registration_number: number.clone(),
                    resident_code: code.to_string(),
                    reason,
                    notified_date: notified,
                }
            }
        };
        let d = DatedSeal {
            effective: day,
            event,
        };
        if book.check(&histories, &d, as_of).is_ok() {
            book.apply(&d);
            out.push(d);
        } else if let SealEvent::Registered { .. } = d.event {
            numbers.retain(|_, n| n != d.event.registration_number());
        }
    }
    out
}

/// The municipality's 公印 (a generated impression).
pub fn official_seal(seed: u64) -> Vec<u8> {
    sample_impression(seed.wrapping_mul(31) ^ 0x4B4F_494E)
}
