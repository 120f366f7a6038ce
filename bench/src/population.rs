//! The benchmarks' synthetic city: the generator of `murakumo gen`
//! (`murakumo_migration::synth`) as a stream of 転入/出生 ledger entries.
//! Deterministic (seeded), so every run appends the same bytes and results
//! compare across runs and machines.

use chrono::NaiveDate;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_migration::Dated;
use murakumo_migration::synth::{Generator, Place};
use murakumo_resident::ResidentEvent;

pub use murakumo_migration::synth::Rng;

/// The actor recorded on generated entries: a migration import job.
pub const ACTOR: &str = "system:migration";

/// The day the generated register is as of.
pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default()
}

/// Generates the register of one municipality, household by household.
pub struct Population {
    generator: Generator,
    pending: std::collections::VecDeque<Dated>,
}

impl Population {
    /// `city` is 都道府県 + 市区町村, e.g. 徳島県徳島市: its 町域 come from
    /// the postal data.
    pub fn new(seed: u64, city: &str) -> Population {
        Population {
            generator: Generator::new(seed, Place::by_name(city), as_of()),
            pending: Default::default(),
        }
    }

    /// The next `n` entries (転入 or 出生) as ledger entries.
    pub fn entries(&mut self, n: usize) -> Vec<NewEntry> {
        (0..n)
            .map(|_| {
                let d = loop {
                    if let Some(d) = self.pending.pop_front() {
                        break d;
                    }
                    // The 転入 only: their 宛名番号 entries would make the bench's
                    // "entries" half numbers, and its peer's rows differ from earlier runs.
                    self.pending
                        .extend(self.generator.next_household().into_iter().filter(|d| {
                            !matches!(d.event, ResidentEvent::AddresseeNumberAssigned { .. })
                        }));
                };
                let (kind, version, payload) = d.event.encode();
                NewEntry {
                    kind: kind.to_string(),
                    version,
                    effective_date: d.effective,
                    actor: ACTOR.to_string(),
                    payload,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_valid_and_unique() {
        let mut p = Population::new(7, "徳島県徳島市");
        let mut codes = std::collections::HashSet::new();
        for e in p.entries(1_000) {
            let Ok(Some(ev)) = ResidentEvent::decode(&e.kind, e.version, &e.payload) else {
                panic!("not a resident event: {e:?}");
            };
            assert!(matches!(ev, ResidentEvent::Entered { .. }));
            murakumo_resident::validate(&ev, None, None, e.effective_date, as_of(), 14)
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
