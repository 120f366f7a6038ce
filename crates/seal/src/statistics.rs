//! 印鑑登録の統計 (印鑑登録事務 standard, M-INKAN-22): how many registrations are in force at
//! the end of a period, and how many were registered, ended (by reason) and certified in it.
//! Folded from the ledger's events with their 異動日, so a past period counts what was then
//! recorded, entries recorded late included. Pure.

use chrono::NaiveDate;
use serde::Serialize;

use crate::{CancelReason, SealEvent};

/// The counts of one period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SealStatistics {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// 登録者数: registrations in force at the end of the period.
    pub in_force: u64,
    /// 新規登録
    pub registered: u64,
    /// 廃止
    pub abolished: u64,
    /// 亡失
    pub card_lost: u64,
    /// 職権抹消
    pub ex_officio: u64,
    /// 印鑑登録証明書の交付件数
    pub certificates: u64,
}

/// Folds events, in ledger order, into the counts of `from..=to`.
#[derive(Debug)]
pub struct SealTally {
    stats: SealStatistics,
}

impl SealTally {
    pub fn new(from: NaiveDate, to: NaiveDate) -> SealTally {
        SealTally {
            stats: SealStatistics {
                from,
                to,
                ..SealStatistics::default()
            },
        }
    }

    fn within(&self, date: NaiveDate) -> bool {
        (self.stats.from..=self.stats.to).contains(&date)
    }

    /// One 印鑑登録 event of `date`.
    pub fn push(&mut self, event: &SealEvent, date: NaiveDate) {
        if date > self.stats.to {
            return;
        }
        let inside = self.within(date);
        let s = &mut self.stats;
        match event {
            SealEvent::Registered { .. } => {
                s.in_force += 1;
                if inside {
                    s.registered += 1;
                }
            }
            SealEvent::Cancelled { reason, .. } => {
                s.in_force = s.in_force.saturating_sub(1);
                if inside {
                    match reason {
                        CancelReason::Abolished => s.abolished += 1,
                        CancelReason::CardLost => s.card_lost += 1,
                        CancelReason::ExOfficio { .. } => s.ex_officio += 1,
                    }
                }
            }
        }
    }

    /// One 印鑑登録証明書 issued on `date`.
    pub fn certificate(&mut self, date: NaiveDate) {
        if self.within(date) {
            self.stats.certificates += 1;
        }
    }

    pub fn finish(self) -> SealStatistics {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).expect("date")
    }

    fn registered(n: &str) -> SealEvent {
        SealEvent::Registered {
            registration_number: n.into(),
            resident_code: "x".into(),
            card_number: n.into(),
            impression_png: Vec::new(),
            notified_date: d(1),
        }
    }

    fn cancelled(n: &str, reason: CancelReason) -> SealEvent {
        SealEvent::Cancelled {
            registration_number: n.into(),
            resident_code: "x".into(),
            reason,
            notified_date: d(1),
        }
    }

    #[test]
    fn a_period_counts_what_happened_in_it_and_what_is_in_force_at_its_end() {
        let mut t = SealTally::new(d(10), d(20));
        t.push(&registered("1"), d(1));
        t.push(&registered("2"), d(2));
        t.push(&registered("3"), d(11));
        t.push(&cancelled("1", CancelReason::CardLost), d(12));
        t.push(&cancelled("2", CancelReason::Abolished), d(5));
        t.certificate(d(9));
        t.certificate(d(10));
        t.certificate(d(20));
        // After the period: not counted, not even in force at its end.
        t.push(&registered("4"), d(21));
        t.push(
            &cancelled(
                "3",
                CancelReason::ExOfficio {
                    reason: "死亡".into(),
                },
            ),
            d(25),
        );
        t.certificate(d(21));
        assert_eq!(
            t.finish(),
            SealStatistics {
                from: d(10),
                to: d(20),
                in_force: 1,
                registered: 1,
                abolished: 0,
                card_lost: 1,
                ex_officio: 0,
                certificates: 2,
            }
        );
    }
}
