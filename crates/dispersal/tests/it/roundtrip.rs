//! Round trips for every pair of sites, object mixing, and storage overhead.

use murakumo_dispersal::{
    DispersalError, MAX_KEY_ID_LEN, SHARE_OVERHEAD, Share, combine, combine_with_report, split,
    verify_share,
};

const MIB: usize = 1 << 20;

/// Deterministic, incompressible-looking test data (xorshift64*).
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Through the wire format, as the sites would store them.
fn via_bytes(share: &Share) -> Share {
    Share::from_bytes(&share.to_bytes()).expect("a share parses back")
}

const PAIRS: [[usize; 2]; 6] = [[0, 1], [0, 2], [1, 2], [1, 0], [2, 0], [2, 1]];

fn assert_round_trips(object: &[u8]) {
    let key_id = format!("chunk/{}", object.len());
    let shares = split(object, key_id.as_bytes()).expect("split");
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(usize::from(s.index()), i + 1);
        assert_eq!(s.key_id(), key_id.as_bytes());
        assert_eq!(s.object_len(), object.len() as u64);
        verify_share(s).expect("fresh share is intact");
    }
    let stored: Vec<Share> = shares.iter().map(via_bytes).collect();
    assert_eq!(stored, shares.to_vec(), "to_bytes/from_bytes is lossless");
    for [a, b] in PAIRS {
        let restored = combine_with_report(&[stored[a].clone(), stored[b].clone()])
            .unwrap_or_else(|e| panic!("len {} pair {a},{b}: {e}", object.len()));
        assert!(
            restored.object == object,
            "len {} pair {a},{b}",
            object.len()
        );
        assert!(restored.rejected.is_empty());
    }
    assert!(combine(&stored).expect("all three") == object);
}

#[test]
fn tiny_and_odd_sizes_round_trip_with_every_pair() {
    for len in [
        0, 1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 255, 1001, 4097, 12_345,
    ] {
        assert_round_trips(&data(len, len as u64));
    }
}

#[test]
fn one_mib_round_trips_with_every_pair() {
    assert_round_trips(&data(MIB, 1));
}

#[test]
fn nine_mib_round_trips_with_every_pair() {
    assert_round_trips(&data(9 * MIB, 9));
}

#[test]
fn structured_data_round_trips() {
    assert_round_trips(&vec![0u8; 100_000]);
    assert_round_trips("京都市左京区 住民票 ".repeat(5000).as_bytes());
}

#[test]
fn key_ids_of_any_allowed_length() {
    for key_id in [Vec::new(), vec![0xff; 1], vec![b'k'; MAX_KEY_ID_LEN]] {
        let shares = split(b"payload", &key_id).expect("split");
        let back: Vec<Share> = shares.iter().map(via_bytes).collect();
        assert_eq!(combine(&back[1..]).expect("restore"), b"payload");
    }
    let err = split(b"payload", &vec![0; MAX_KEY_ID_LEN + 1]).expect_err("too long");
    assert!(matches!(err, DispersalError::KeyIdTooLong { .. }), "{err}");
}

#[test]
fn shares_of_two_different_objects_do_not_combine() {
    let a = split(b"object A", b"chunk/a").expect("split a");
    let b = split(b"object B", b"chunk/b").expect("split b");
    let err = combine(&[a[0].clone(), b[1].clone()]).expect_err("mixed");
    assert!(matches!(err, DispersalError::MixedObjects { .. }), "{err}");
    assert!(err.to_string().contains("\"chunk/a\""), "{err}");
    assert!(err.to_string().contains("\"chunk/b\""), "{err}");

    // Same key_id, even the same content: every split has its own key and
    // nonce, so two splits' shares are different objects too.
    let c = split(b"object A", b"chunk/a").expect("split again");
    assert_ne!(a[0].to_bytes(), c[0].to_bytes());
    let err = combine(&[a[0].clone(), c[1].clone()]).expect_err("two splits");
    assert!(matches!(err, DispersalError::MixedObjects { .. }), "{err}");
    // Mixing is refused even when two shares of one object are there.
    let err = combine(&[a[0].clone(), a[1].clone(), c[2].clone()]).expect_err("mixed");
    assert!(matches!(err, DispersalError::MixedObjects { .. }), "{err}");
}

#[test]
fn duplicates_of_one_share_do_not_count_twice() {
    let [s1, s2, _] = split(b"abc", b"id").expect("split");
    let err = combine(&[s1.clone(), s1.clone(), s1.clone()]).expect_err("one site");
    assert!(
        matches!(err, DispersalError::NotEnoughShares { intact: 1, .. }),
        "{err}"
    );
    assert_eq!(combine(&[s2.clone(), s1.clone(), s2]).expect("1+2"), b"abc");
}

#[test]
fn no_shares_at_all() {
    let err = combine(&[]).expect_err("nothing");
    assert_eq!(
        err.to_string(),
        "only 0 intact shares of object (unknown: no shares were given) (shares 1, 2 and 3 \
         missing): at least 2 of the 3 sites are needed to restore"
    );
}

#[test]
fn storage_overhead_is_about_one_and_a_half() {
    let key_id = b"0123456789abcdef0123456789abcdef"; // a 32-byte chunk id
    // Per share: fixed fields + key_id, plus up to 2 bytes of padding and
    // half the 16-byte tag in the shard.
    let constant = 3 * (SHARE_OVERHEAD + key_id.len() + 10);
    println!("share overhead (key_id of {} bytes):", key_id.len());
    for len in [0usize, 1, 1000, 64 * 1024, MIB, 8 * MIB] {
        let shares = split(&data(len, 3), key_id).expect("split");
        let total: usize = shares.iter().map(|s| s.to_bytes().len()).sum();
        let bound = len + len / 2 + constant;
        println!(
            "  object {len:>8} B -> 3 shares {total:>8} B = {:.4}x (bound {bound} B)",
            total as f64 / len.max(1) as f64
        );
        assert!(total <= bound, "len {len}: {total} > {bound}");
        if len >= 1000 {
            assert!(
                total * 2 >= len * 3,
                "at least 1.5x: two shares must hold it all"
            );
        }
    }
}

#[test]
fn error_when_one_share_is_corrupted_and_one_missing() {
    let [s1, s2, _] = split(b"payload", b"chunk/42").expect("split");
    let mut bytes = s2.to_bytes();
    let last = bytes.len() - 40; // inside the shard
    bytes[last] ^= 0x10;
    let bad2 = Share::from_bytes(&bytes).expect("structure is intact");
    let err = combine(&[s1, bad2]).expect_err("one good share");
    assert_eq!(
        err.to_string(),
        "only 1 intact share of object \"chunk/42\" (share 2 is corrupted, share 3 missing): at \
         least 2 of the 3 sites are needed to restore"
    );
}
