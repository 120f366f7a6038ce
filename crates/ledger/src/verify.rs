//! Chain verification: detects a changed, dropped, reordered or inserted
//! entry and says where.

use std::fmt;

use crate::LedgerOwner;

use crate::{ChainHash, Entry};

/// The last entry of a chain: `seq` 0 and [`ChainHash::GENESIS`] when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: ChainHash,
}

impl ChainHead {
    pub const EMPTY: ChainHead = ChainHead {
        seq: 0,
        hash: ChainHash::GENESIS,
    };
}

/// Why a chain does not verify, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The stored hash is not the hash of the stored content: the entry was
    /// changed after it was written.
    #[error("entry {seq} was altered: its content no longer matches its hash")]
    Altered { seq: u64 },
    /// Entries are missing before `found`.
    #[error("entries {expected}..{} are missing (next present entry is {found})", found - 1)]
    Missing { expected: u64, found: u64 },
    /// An entry appears where a later one was expected: reordered, duplicated
    /// or inserted.
    #[error("entry {found} appears where entry {expected} was expected (reordered or inserted)")]
    OutOfOrder { expected: u64, found: u64 },
    /// The entry's previous-hash does not match its predecessor: an entry
    /// before it was replaced, removed or inserted with recomputed hashes.
    #[error("entry {seq} does not link to entry {}: an entry was replaced, removed or inserted", seq - 1)]
    Unlinked { seq: u64 },
    #[error("entry {seq} belongs to the chain of {found}, not {expected}")]
    WrongTenant {
        seq: u64,
        expected: LedgerOwner,
        found: LedgerOwner,
    },
    /// The chain ends before, or differs from, the recorded head.
    #[error("chain ends at entry {found_seq} but its recorded head is entry {head_seq}{}", HeadDetail(*found_seq == *head_seq))]
    HeadMismatch { head_seq: u64, found_seq: u64 },
}

struct HeadDetail(bool);
impl fmt::Display for HeadDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            f.write_str(" with a different hash (the last entry was replaced)")
        } else {
            Ok(())
        }
    }
}

impl ChainBreak {
    /// The sequence number where the break was found.
    pub fn seq(&self) -> u64 {
        match *self {
            ChainBreak::Altered { seq }
            | ChainBreak::Unlinked { seq }
            | ChainBreak::WrongTenant { seq, .. } => seq,
            ChainBreak::Missing { found, .. } | ChainBreak::OutOfOrder { found, .. } => found,
            ChainBreak::HeadMismatch { found_seq, .. } => found_seq,
        }
    }
}

/// Incremental verifier, fed entries in storage order. Keeps O(1) state so a
/// chain of any length can be streamed through it.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    owner: LedgerOwner,
    last: ChainHead,
}

impl ChainVerifier {
    /// Verifies a chain continuing after `start` (use [`ChainHead::EMPTY`] for
    /// a whole chain).
    pub fn new(owner: impl Into<LedgerOwner>, start: ChainHead) -> ChainVerifier {
        ChainVerifier {
            owner: owner.into(),
            last: start,
        }
    }

    pub fn push(&mut self, e: &Entry) -> Result<(), ChainBreak> {
        // A chain ends at u64::MAX; nothing can follow it.
        let Some(expected) = self.last.seq.checked_add(1) else {
            return Err(ChainBreak::OutOfOrder {
                expected: u64::MAX,
                found: e.seq,
            });
        };
        if e.owner != self.owner {
            return Err(ChainBreak::WrongTenant {
                seq: e.seq,
                expected: self.owner,
                found: e.owner,
            });
        }
        if e.seq > expected {
            return Err(ChainBreak::Missing {
                expected,
                found: e.seq,
            });
        }
        if e.seq < expected {
            return Err(ChainBreak::OutOfOrder {
                expected,
                found: e.seq,
            });
        }
        if e.compute_hash() != e.hash {
            return Err(ChainBreak::Altered { seq: e.seq });
        }
        if e.prev_hash != self.last.hash {
            return Err(ChainBreak::Unlinked { seq: e.seq });
        }
        self.last = ChainHead {
            seq: e.seq,
            hash: e.hash,
        };
        Ok(())
    }

    /// The last verified entry.
    pub fn head(&self) -> ChainHead {
        self.last
    }

    /// Checks the verified chain ends exactly at the recorded head.
    pub fn finish(&self, recorded: ChainHead) -> Result<ChainHead, ChainBreak> {
        if self.last != recorded {
            return Err(ChainBreak::HeadMismatch {
                head_seq: recorded.seq,
                found_seq: self.last.seq,
            });
        }
        Ok(self.last)
    }
}

/// Verifies a whole chain from its first entry against its recorded head.
pub fn verify_chain<'a>(
    owner: impl Into<LedgerOwner>,
    entries: impl IntoIterator<Item = &'a Entry>,
    recorded_head: ChainHead,
) -> Result<ChainHead, ChainBreak> {
    let mut v = ChainVerifier::new(owner, ChainHead::EMPTY);
    for e in entries {
        v.push(e)?;
    }
    v.finish(recorded_head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::{chain, tenant};
    use crate::{ChainHash, Entry, RecordedAt};
    use murakumo_core::TenantCode;

    fn head(c: &[Entry]) -> ChainHead {
        c.last().map_or(ChainHead::EMPTY, |e| ChainHead {
            seq: e.seq,
            hash: e.hash,
        })
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(10);
        assert_eq!(verify_chain(tenant(), &c, head(&c)), Ok(head(&c)));
        assert_eq!(
            verify_chain(tenant(), &[], ChainHead::EMPTY),
            Ok(ChainHead::EMPTY)
        );
    }

    #[test]
    fn changed_entry_is_found() {
        let mut c = chain(10);
        let h = head(&c);
        c[4].payload = b"forged".to_vec();
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::Altered { seq: 5 })
        );
    }

    #[test]
    fn changed_entry_with_recomputed_hash_breaks_the_link() {
        let mut c = chain(10);
        let h = head(&c);
        c[4].payload = b"forged".to_vec();
        c[4].hash = c[4].compute_hash();
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::Unlinked { seq: 6 })
        );
    }

    #[test]
    fn replaced_last_entry_is_caught_by_the_head() {
        let mut c = chain(3);
        let h = head(&c);
        c[2].payload = b"forged".to_vec();
        c[2].hash = c[2].compute_hash();
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::HeadMismatch {
                head_seq: 3,
                found_seq: 3
            })
        );
    }

    #[test]
    fn dropped_entry_is_found() {
        let mut c = chain(10);
        let h = head(&c);
        c.remove(6);
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::Missing {
                expected: 7,
                found: 8
            })
        );
        let mut tail_cut = chain(10);
        tail_cut.pop();
        assert_eq!(
            verify_chain(tenant(), &tail_cut, h),
            Err(ChainBreak::HeadMismatch {
                head_seq: 10,
                found_seq: 9
            })
        );
    }

    #[test]
    fn reordered_entries_are_found() {
        let mut c = chain(10);
        let h = head(&c);
        c.swap(3, 4);
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::Missing {
                expected: 4,
                found: 5
            })
        );
    }

    #[test]
    fn inserted_entry_is_found() {
        let mut c = chain(10);
        let h = head(&c);
        let forged = Entry::seal(
            tenant(),
            4,
            c[2].hash,
            RecordedAt(1),
            crate::entry::tests::new_entry(99),
        );
        c.insert(4, forged);
        assert_eq!(
            verify_chain(tenant(), &c, h),
            Err(ChainBreak::OutOfOrder {
                expected: 5,
                found: 4
            })
        );
    }

    #[test]
    fn an_entry_of_another_tenant_is_found() {
        let mut c = chain(4);
        let h = head(&c);
        let other = TenantCode::parse("011002").expect("valid");
        c[2].owner = other.into();
        c[2].hash = c[2].compute_hash();
        let err = verify_chain(tenant(), &c, h).expect_err("refused");
        assert_eq!(
            err,
            ChainBreak::WrongTenant {
                seq: 3,
                expected: tenant().into(),
                found: other.into()
            }
        );
        assert_eq!(err.seq(), 3);
    }

    #[test]
    fn every_break_names_where_it_was_found() {
        let t = LedgerOwner::from(tenant());
        let cases = [
            (ChainBreak::Altered { seq: 7 }, 7),
            (ChainBreak::Unlinked { seq: 8 }, 8),
            (
                ChainBreak::WrongTenant {
                    seq: 9,
                    expected: t,
                    found: t,
                },
                9,
            ),
            (
                ChainBreak::Missing {
                    expected: 4,
                    found: 10,
                },
                10,
            ),
            (
                ChainBreak::OutOfOrder {
                    expected: 12,
                    found: 11,
                },
                11,
            ),
            (
                ChainBreak::HeadMismatch {
                    head_seq: 20,
                    found_seq: 13,
                },
                13,
            ),
        ];
        for (b, seq) in cases {
            assert_eq!(b.seq(), seq, "{b}");
        }
        // A head that differs only by its hash says the last entry was replaced.
        let replaced = ChainBreak::HeadMismatch {
            head_seq: 3,
            found_seq: 3,
        };
        assert_eq!(
            replaced.to_string(),
            "chain ends at entry 3 but its recorded head is entry 3 with a different hash \
             (the last entry was replaced)"
        );
        let short = ChainBreak::HeadMismatch {
            head_seq: 4,
            found_seq: 3,
        };
        assert_eq!(
            short.to_string(),
            "chain ends at entry 3 but its recorded head is entry 4"
        );
    }

    #[test]
    fn the_verifier_head_follows_each_verified_entry() {
        let c = chain(3);
        let mut v = ChainVerifier::new(tenant(), ChainHead::EMPTY);
        assert_eq!(v.head(), ChainHead::EMPTY);
        for e in &c {
            v.push(e).expect("intact");
            assert_eq!(
                v.head(),
                ChainHead {
                    seq: e.seq,
                    hash: e.hash
                }
            );
        }
        assert_eq!(v.finish(head(&c)), Ok(head(&c)));
        // Nothing follows u64::MAX.
        let mut end = ChainVerifier::new(
            tenant(),
            ChainHead {
                seq: u64::MAX,
                hash: ChainHash::GENESIS,
            },
        );
        assert_eq!(
            end.push(&c[0]),
            Err(ChainBreak::OutOfOrder {
                expected: u64::MAX,
                found: 1
            })
        );
    }

    #[test]
    fn renumbered_insertion_is_found() {
        // Insert a forged entry and renumber/rehash everything after it: the
        // recorded head (kept apart from the entries) no longer matches.
        let c = chain(5);
        let h = head(&c);
        let mut forged = c[..2].to_vec();
        let mut prev = c[1].hash;
        for seq in 3..=6 {
            let e = Entry::seal(
                tenant(),
                seq,
                prev,
                RecordedAt(seq as i64),
                crate::entry::tests::new_entry(seq),
            );
            prev = e.hash;
            forged.push(e);
        }
        assert!(matches!(
            verify_chain(tenant(), &forged, h),
            Err(ChainBreak::HeadMismatch { .. })
        ));
    }
}
