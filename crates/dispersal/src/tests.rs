//! Unit tests that need to reach inside a share: forgeries that recompute the
//! hash, which only the AEAD can catch.

use super::*;

fn object(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Alter a share and make its hash valid again, as a malicious site could.
fn forge(share: &Share, alter: impl FnOnce(&mut Share)) -> Share {
    let mut forged = share.clone();
    alter(&mut forged);
    forged.hash = forged.compute_hash();
    verify_share(&forged).expect("forged share has a valid hash");
    forged
}

#[test]
fn altered_key_share_is_caught_by_the_aead_and_named() {
    let data = object(1000);
    let [s1, s2, s3] = split(&data, b"k").expect("split");
    let bad2 = forge(&s2, |s| s.key_share[7] ^= 1);

    let restored =
        combine_with_report(&[s1.clone(), bad2.clone(), s3.clone()]).expect("1+3 restore");
    assert_eq!(restored.object, data);
    assert_eq!(restored.used, [1, 3]);
    assert_eq!(
        restored.rejected,
        vec![Rejected {
            index: 2,
            reason: Rejection::NotAuthentic
        }]
    );

    let err = combine(&[s1, bad2]).expect_err("only two shares, one forged");
    assert!(
        matches!(err, DispersalError::AuthenticationFailed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("shares 1 and 2"), "{err}");
    drop(s3);
}

#[test]
fn altered_shard_is_caught_in_every_position() {
    let data = object(333);
    let shares = split(&data, b"k").expect("split");
    for bad in 0..3 {
        let forged = forge(&shares[bad], |s| s.shard[0] ^= 0x80);
        let mut set = shares.to_vec();
        set[bad] = forged;
        let restored = combine_with_report(&set).expect("the other two restore");
        assert_eq!(restored.object, data);
        assert!(!restored.used.contains(&shares[bad].index));
        assert_eq!(restored.rejected.len(), 1);
        assert_eq!(restored.rejected[0].index, shares[bad].index);
        assert_eq!(restored.rejected[0].reason, Rejection::NotAuthentic);
    }
}

#[test]
fn unused_third_share_is_audited() {
    // Shares 1 and 2 restore; a re-hashed forgery of share 3 is still named.
    let data = object(500);
    let [s1, s2, s3] = split(&data, b"k").expect("split");
    for bad3 in [
        forge(&s3, |s| s.shard[9] ^= 4),
        forge(&s3, |s| s.key_share[31] ^= 4),
    ] {
        let restored = combine_with_report(&[s1.clone(), s2.clone(), bad3]).expect("1+2");
        assert_eq!(restored.object, data);
        assert_eq!(restored.used, [1, 2]);
        assert_eq!(
            restored.rejected,
            vec![Rejected {
                index: 3,
                reason: Rejection::NotAuthentic
            }]
        );
    }
    let clean = combine_with_report(&[s3, s2, s1]).expect("all good");
    assert!(clean.rejected.is_empty());
}

#[test]
fn non_zero_padding_is_rejected() {
    // 333 + 16 = 349 ciphertext bytes, shards of 176 → 3 padding bytes in shard 2.
    let data = object(333);
    let [s1, s2, s3] = split(&data, b"k").expect("split");
    let last = s2.shard.len() - 1;
    let bad2 = forge(&s2, |s| s.shard[last] = 1);
    let restored = combine_with_report(&[s1, bad2, s3]).expect("1+3 restore");
    assert_eq!(restored.object, data);
    assert_eq!(restored.used, [1, 3]);
}

#[test]
fn relabelled_key_id_does_not_decrypt() {
    // A site rewrites the key_id of both shares it was given (or an operator
    // mixes up labels): the AEAD associated data no longer matches.
    let [s1, s2, _] = split(b"residents of ward 3", b"chunk/a").expect("split");
    let r1 = forge(&s1, |s| s.key_id = b"chunk/b".to_vec());
    let r2 = forge(&s2, |s| s.key_id = b"chunk/b".to_vec());
    let err = combine(&[r1, r2]).expect_err("key_id is bound");
    assert!(
        matches!(err, DispersalError::AuthenticationFailed { .. }),
        "{err}"
    );
}

#[test]
fn share_of_another_object_relabelled_as_ours_does_not_decrypt() {
    let [a1, _, _] = split(b"object A, same length", b"id").expect("split a");
    let [_, b2, _] = split(b"object B, same length", b"id").expect("split b");
    let b2_as_a = forge(&b2, |s| s.nonce = a1.nonce);
    let err = combine(&[a1, b2_as_a]).expect_err("different keys");
    assert!(
        matches!(err, DispersalError::AuthenticationFailed { .. }),
        "{err}"
    );
}

#[test]
fn two_forged_shares_out_of_three_fail_rather_than_lie() {
    let data = object(64);
    let [s1, s2, s3] = split(&data, b"k").expect("split");
    let bad1 = forge(&s1, |s| s.shard[3] ^= 1);
    let bad3 = forge(&s3, |s| s.key_share[0] ^= 1);
    let err = combine(&[bad1, s2, bad3]).expect_err("two bad");
    assert!(
        err.to_string().contains("at least two of them are bad"),
        "{err}"
    );
}

#[test]
fn conflicting_copies_of_one_index_are_refused() {
    let [s1, s2, _] = split(b"x", b"k").expect("split");
    let other2 = forge(&s2, |s| s.shard[0] ^= 1);
    let err = combine(&[s1, s2, other2]).expect_err("two different share 2s");
    assert_eq!(
        err,
        DispersalError::ConflictingShares {
            index: 2,
            key_id: "\"k\"".to_owned()
        }
    );
}

#[test]
fn shard_lengths_follow_the_formula() {
    assert_eq!(shard_len(0), Some(8));
    assert_eq!(shard_len(1), Some(10));
    assert_eq!(shard_len(4), Some(10));
    assert_eq!(shard_len(5), Some(12));
    assert_eq!(shard_len(u64::MAX), None);
    for len in [0usize, 1, 2, 3, 17, 1000] {
        let shares = split(&object(len), b"id").expect("split");
        for s in &shares {
            assert_eq!(Some(s.shard.len() as u64), shard_len(len as u64));
            assert_eq!(Some(s.to_bytes().len() as u64), share_len(len as u64, 2));
        }
    }
}

#[test]
fn status_wording() {
    assert_eq!(
        describe_status(&[2], &[3]),
        "share 2 is corrupted, share 3 missing"
    );
    assert_eq!(
        describe_status(&[], &[1, 2, 3]),
        "shares 1, 2 and 3 missing"
    );
    assert_eq!(
        describe_status(&[1, 3], &[]),
        "shares 1 and 3 are corrupted"
    );
}

#[test]
fn key_id_descriptions() {
    assert_eq!(describe_key_id(b"chunk/ab"), "\"chunk/ab\"");
    assert_eq!(describe_key_id(&[0, 255]), "0x00ff");
    assert_eq!(describe_key_id("京都市".as_bytes()), "\"京都市\"");
}
