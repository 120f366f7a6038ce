//! Rebuilding a lost or damaged share from the other two (issue 19).
//!
//! Two shares that authenticate together determine the third completely:
//! the key shares lie on one line over GF(2⁸) (so the third point is
//! interpolated at its `x`), the two shards give the padded ciphertext (so
//! the third shard is a data half or the recomputed parity), and nonce,
//! length and `key_id` are shared. [`rebuild`] therefore gives back **the
//! very bytes the original [`split`](crate::split) gave that site** — no new
//! split, no change at the two sites that are intact, and a repaired site is
//! indistinguishable from one that never lost anything.
//!
//! It refuses, like [`combine`](crate::combine), unless two shares
//! authenticate (the AEAD tag over the whole object): a share is never
//! rebuilt from a forged or damaged one.

use crate::gf256;
use crate::{
    DispersalError, Rejected, Rejection, Share, TOTAL, combine_with_report, padded_ciphertext,
};

/// An object restored with all three of its shares, as the original split
/// made them. Compare each site's share with `shares[site - 1]`: the sites
/// whose bytes differ (or who have none) are the ones to write.
#[derive(Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The original object (authenticated).
    pub object: Vec<u8>,
    /// Shares 1, 2 and 3, byte for byte as the original split made them.
    pub shares: [Share; 3],
    /// The two shares that authenticated together.
    pub used: [u8; 2],
    /// Shares that were given but are not their site's share, and why.
    pub rejected: Vec<Rejected>,
}

impl core::fmt::Debug for Rebuilt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rebuilt")
            .field("object_len", &self.object.len())
            .field("shares", &self.shares)
            .field("used", &self.used)
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// Restore an object from any of its shares **and rebuild all three**:
/// what a repair writes back to the sites whose share is missing,
/// corrupted, altered, or left over from another split of the same object
/// (an interrupted write). Shares may come in any order; give each site's
/// share once.
///
/// Errors as [`combine_with_report`] does when no two shares of one split
/// authenticate together: the object is lost at these sites.
pub fn rebuild(shares: &[Share]) -> Result<Rebuilt, DispersalError> {
    let intact: Vec<&Share> = shares.iter().filter(|s| s.is_intact()).collect();
    let corrupted: Vec<&Share> = shares.iter().filter(|s| !s.is_intact()).collect();

    // Intact shares grouped by the split they come from (length, nonce,
    // key_id): shares of two splits never combine.
    let mut groups: Vec<Vec<&Share>> = Vec::new();
    for s in &intact {
        match groups.iter_mut().find(|g| g[0].same_object(s)) {
            Some(g) => g.push(s),
            None => groups.push(vec![s]),
        }
    }
    let distinct = |g: &Vec<&Share>| {
        let mut seen = [false; TOTAL as usize];
        for s in g {
            seen[usize::from(s.index) - 1] = true;
        }
        seen.iter().filter(|&&b| b).count()
    };
    groups.sort_by_key(|g| core::cmp::Reverse(distinct(g)));

    let (restored, group) = if groups.len() <= 1 {
        (
            combine_with_report(shares)?,
            groups.pop().unwrap_or_default(),
        )
    } else {
        let mut found = None;
        for g in &groups {
            if distinct(g) < 2 {
                break;
            }
            let set: Vec<Share> = g
                .iter()
                .chain(corrupted.iter())
                .map(|s| (*s).clone())
                .collect();
            if let Ok(r) = combine_with_report(&set) {
                found = Some((r, g.clone()));
                break;
            }
        }
        match found {
            Some(f) => f,
            // No split has two shares that authenticate: say so as
            // `combine` would (mixed objects, not enough shares, forged).
            None => {
                return Err(combine_with_report(shares).err().unwrap_or_else(|| {
                    DispersalError::MixedObjects {
                        detail: "no two shares of one split authenticate together".to_owned(),
                    }
                }));
            }
        }
    };

    let mut rejected = restored.rejected;
    for s in &intact {
        if !group.iter().any(|g| core::ptr::eq(*g, *s)) {
            rejected.push(Rejected {
                index: s.index,
                reason: Rejection::OtherSplit,
            });
        }
    }
    rejected.sort_by_key(|r| r.index);
    rejected.dedup();

    let pick = |index: u8| group.iter().copied().find(|s| s.index == index);
    let (Some(a), Some(b)) = (pick(restored.used[0]), pick(restored.used[1])) else {
        return Err(DispersalError::Erasure {
            key_id: group
                .first()
                .map_or_else(String::new, |s| s.describe_object()),
            detail: "the pair that authenticated is not among the shares given".to_owned(),
        });
    };
    let mut out: Vec<Share> = Vec::with_capacity(3);
    for index in 1..=TOTAL {
        let share = if index == a.index {
            a.clone()
        } else if index == b.index {
            b.clone()
        } else {
            // The third share given, when the audit against the pair passed;
            // otherwise computed from the pair.
            let audited_ok = !rejected
                .iter()
                .any(|r| r.index == index && r.reason == Rejection::NotAuthentic);
            match pick(index) {
                Some(s) if audited_ok => s.clone(),
                _ => share_from_pair(a, b, index)?,
            }
        };
        out.push(share);
    }
    let shares: [Share; 3] = out.try_into().map_err(|_| DispersalError::Erasure {
        key_id: a.describe_object(),
        detail: "three shares expected".to_owned(),
    })?;
    Ok(Rebuilt {
        object: restored.object,
        shares,
        used: restored.used,
        rejected,
    })
}

/// Share `index` of the split that `a` and `b` (intact, authenticated
/// together, distinct indices) come from.
fn share_from_pair(a: &Share, b: &Share, index: u8) -> Result<Share, DispersalError> {
    let erasure = |detail: String| DispersalError::Erasure {
        key_id: a.describe_object(),
        detail,
    };
    let points = [(a.index, &a.key_share), (b.index, &b.key_share)];
    let key_share = gf256::interpolate(&points, index).map_err(|e| erasure(format!("{e:?}")))?;
    let padded = padded_ciphertext(a, b)?
        .ok_or_else(|| erasure("the pair does not give the ciphertext".to_owned()))?;
    let half = a.shard.len();
    let shard = match index {
        1 => padded[..half].to_vec(),
        2 => padded[half..].to_vec(),
        _ => reed_solomon_simd::encode(2, 1, [&padded[..half], &padded[half..]])
            .map_err(|e| erasure(e.to_string()))?
            .pop()
            .ok_or_else(|| erasure("no recovery shard returned".to_owned()))?,
    };
    let mut s = Share {
        index,
        object_len: a.object_len,
        nonce: a.nonce,
        key_id: a.key_id.clone(),
        key_share: *key_share,
        shard,
        hash: [0; 32],
    };
    s.hash = s.compute_hash();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split;

    fn object(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 253) as u8).collect()
    }

    #[test]
    fn a_lost_share_is_rebuilt_byte_for_byte_from_each_pair() {
        for len in [0usize, 1, 5, 333, 70_000] {
            let data = object(len);
            let shares = split(&data, b"data/ab/ab12").expect("split");
            for lost in 0..3 {
                let given: Vec<Share> = (0..3)
                    .filter(|&i| i != lost)
                    .map(|i| shares[i].clone())
                    .collect();
                let r = rebuild(&given).expect("rebuild");
                assert_eq!(r.object, data);
                for (i, (got, want)) in r.shares.iter().zip(shares.iter()).enumerate() {
                    assert_eq!(
                        got.to_bytes(),
                        want.to_bytes(),
                        "len {len}, lost {}, share {}",
                        lost + 1,
                        i + 1
                    );
                }
                assert!(r.rejected.is_empty(), "{:?}", r.rejected);
            }
        }
    }

    #[test]
    fn corrupted_truncated_and_forged_shares_are_replaced_by_the_original() {
        let data = object(5_000);
        let shares = split(&data, b"k").expect("split");
        for bad in 0..3 {
            // A flipped bit (hash mismatch).
            let mut bytes = shares[bad].to_bytes();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 1;
            let damaged = Share::from_bytes(&bytes).expect("still parses");
            // A forgery with a recomputed hash (only the AEAD notices).
            let mut forged = shares[bad].clone();
            forged.shard[0] ^= 0x80;
            forged.hash = forged.compute_hash();
            for (replacement, why) in [
                (damaged, Rejection::Corrupted),
                (forged, Rejection::NotAuthentic),
            ] {
                let mut set = shares.to_vec();
                set[bad] = replacement;
                let r = rebuild(&set).expect("the other two rebuild it");
                assert_eq!(r.object, data);
                assert_eq!(r.shares[bad].to_bytes(), shares[bad].to_bytes());
                assert_eq!(
                    r.rejected,
                    vec![Rejected {
                        index: (bad + 1) as u8,
                        reason: why
                    }]
                );
            }
        }
    }

    #[test]
    fn a_share_left_by_another_split_is_named_and_replaced() {
        // An interrupted write: site 1 holds a share of a new split of the
        // same object, sites 2 and 3 the old one.
        let data = object(900);
        let old = split(&data, b"k").expect("old");
        let new = split(&data, b"k").expect("new");
        let set = vec![new[0].clone(), old[1].clone(), old[2].clone()];
        let r = rebuild(&set).expect("old 2 + 3 rebuild");
        assert_eq!(r.object, data);
        assert_eq!(r.shares[0].to_bytes(), old[0].to_bytes());
        assert_eq!(
            r.rejected,
            vec![Rejected {
                index: 1,
                reason: Rejection::OtherSplit
            }]
        );
        // The same with combine alone is refused (mixed objects).
        assert!(matches!(
            crate::combine(&set),
            Err(DispersalError::MixedObjects { .. })
        ));
    }

    #[test]
    fn two_bad_shares_are_refused_never_guessed() {
        let data = object(100);
        let [s1, s2, s3] = split(&data, b"k").expect("split");
        let mut b2 = s2.to_bytes();
        b2[60] ^= 1;
        let bad2 = Share::from_bytes(&b2).expect("parses");
        let err = rebuild(&[s1.clone(), bad2.clone()]).expect_err("only one good");
        assert!(
            matches!(err, DispersalError::NotEnoughShares { intact: 1, .. }),
            "{err}"
        );
        let mut forged3 = s3.clone();
        forged3.key_share[0] ^= 1;
        forged3.hash = forged3.compute_hash();
        let err = rebuild(&[s1, bad2, forged3]).expect_err("one good, one forged");
        assert!(
            matches!(err, DispersalError::AuthenticationFailed { .. }),
            "{err}"
        );
        let other = split(&data, b"k").expect("other");
        let err = rebuild(&[s3, other[0].clone()]).expect_err("two splits, one share each");
        assert!(matches!(err, DispersalError::MixedObjects { .. }), "{err}");
    }
}
