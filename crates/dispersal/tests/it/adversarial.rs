//! Corruption, a single site's view, and arbitrary input.

use murakumo_dispersal::{
    DispersalError, Rejection, Share, combine, combine_with_report, split, verify_share,
};
use proptest::prelude::*;

fn text(len: usize) -> Vec<u8> {
    "住民票の写し 京都府京都市左京区 山田太郎 昭和50年1月1日生 本籍 世帯主 "
        .as_bytes()
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

/// Every byte of every share, flipped (two ways): detected, and the other
/// two shares restore — whether the damaged share is passed along or not.
#[test]
fn every_single_corrupted_byte_is_detected_and_the_other_two_restore() {
    let object = text(300);
    let shares = split(&object, b"chunk/every-byte").expect("split");
    let mut parse_errors = 0;
    let mut hash_mismatches = 0;
    for (bad, share) in shares.iter().enumerate() {
        let good: Vec<Share> = (0..3)
            .filter(|&i| i != bad)
            .map(|i| shares[i].clone())
            .collect();
        let clean = share.to_bytes();
        for pos in 0..clean.len() {
            for mask in [0x01u8, 0xff] {
                let mut damaged = clean.clone();
                damaged[pos] ^= mask;
                match Share::from_bytes(&damaged) {
                    Err(_) => parse_errors += 1, // structure broken: the share is unusable
                    Ok(parsed) => {
                        hash_mismatches += 1;
                        let err = verify_share(&parsed).expect_err("hash must catch it");
                        assert!(matches!(err, DispersalError::Corrupted { .. }), "{err}");
                        let mut set = good.clone();
                        set.insert(bad.min(1), parsed.clone());
                        let restored = combine_with_report(&set).unwrap_or_else(|e| {
                            panic!("share {} byte {pos} ^ {mask:#x}: {e}", bad + 1)
                        });
                        assert!(restored.object == object);
                        assert_eq!(restored.rejected.len(), 1);
                        assert_eq!(restored.rejected[0].reason, Rejection::Corrupted);
                        assert_eq!(restored.rejected[0].index, parsed.index());
                    }
                }
            }
        }
        assert!(combine(&good).expect("the other two alone") == object);
    }
    println!("{parse_errors} flips broke the structure, {hash_mismatches} failed the hash");
    assert!(hash_mismatches > parse_errors);
}

#[test]
fn truncated_or_extended_shares_are_refused() {
    let shares = split(&text(100), b"id").expect("split");
    let bytes = shares[2].to_bytes();
    for cut in 0..bytes.len() {
        let err = Share::from_bytes(&bytes[..cut]).expect_err("truncated");
        assert!(
            matches!(
                err,
                DispersalError::Truncated { .. } | DispersalError::BadMagic { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = Share::from_bytes(&longer).expect_err("trailing");
    assert_eq!(
        err,
        DispersalError::TrailingBytes {
            index: 3,
            trailing: 1
        }
    );
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    assert!(Share::from_bytes(&two).is_err());
}

#[test]
fn one_share_alone_does_not_restore() {
    let shares = split(&text(1000), b"chunk/solo").expect("split");
    for s in &shares {
        let err = combine(std::slice::from_ref(s)).expect_err("one site");
        let msg = err.to_string();
        assert!(
            matches!(err, DispersalError::NotEnoughShares { intact: 1, .. }),
            "{msg}"
        );
        assert!(msg.contains("at least 2 of the 3 sites"), "{msg}");
        assert!(msg.contains("\"chunk/solo\""), "{msg}");
    }
}

/// What one site holds, plus everything public (key_id, format, this code)
/// and the backup passphrase: the bytes look random and nothing decrypts.
#[test]
fn one_share_with_the_key_id_reveals_nothing() {
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

    let object = text(256 * 1024); // highly redundant plaintext
    let key_id = b"chunk/ward-3";
    let shares = split(&object, key_id).expect("split");
    for s in &shares {
        let bytes = s.to_bytes();
        // Layout (docs/design/dispersal.md): nonce at 16..40, key share and shard after the key_id.
        let k = 42 + key_id.len();
        let nonce = XNonce::try_from(&bytes[16..40]).expect("24 bytes");
        let key_share: [u8; 32] = bytes[k..k + 32].try_into().expect("32 bytes");
        let shard = &bytes[k + 40..bytes.len() - 32];
        assert_eq!(shard.len(), (object.len() + 16).div_ceil(4) * 2);

        // No 8-byte window of the plaintext appears anywhere in the share.
        let windows: std::collections::HashSet<&[u8]> = object.windows(8).collect();
        assert!(
            bytes.windows(8).all(|w| !windows.contains(w)),
            "share {}",
            s.index()
        );
        // The shard is not the plaintext half it stands for.
        let half = &object[..shard.len()];
        assert_ne!(shard, half);
        let equal = shard.iter().zip(half).filter(|(a, b)| a == b).count();
        assert!(
            equal < shard.len() / 64,
            "share {}: {equal} bytes equal",
            s.index()
        );

        // Byte histogram of the shard: chi-square with 255 degrees of freedom
        // (mean 255, sd ~22.6); 400 is > 6 sd, a false alarm is ~1e-9.
        let mut counts = [0u64; 256];
        for &b in shard {
            counts[usize::from(b)] += 1;
        }
        let expected = shard.len() as f64 / 256.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 400.0, "share {}: chi2 {chi2}", s.index());
        // The plaintext itself is far from uniform (sanity check of the test).
        let mut plain = [0u64; 256];
        for &b in &object[..shard.len()] {
            plain[usize::from(b)] += 1;
        }
        let plain_chi2: f64 = plain
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(plain_chi2 > 10_000.0, "{plain_chi2}");

        // Try keys an attacker with this share and the passphrase could make:
        // the key share itself, and keys derived from the passphrase.
        let passphrase = b"correct horse battery staple";
        let candidates = [
            key_share,
            *blake3::hash(passphrase).as_bytes(),
            blake3::derive_key("murakumo backup", passphrase),
            [0u8; 32],
        ];
        for key in candidates {
            let cipher = XChaCha20Poly1305::new((&key).into());
            let mut buf = shard[..shard.len() - 16].to_vec();
            let tag = Tag::try_from(&shard[shard.len() - 16..]).expect("16");
            assert!(
                cipher
                    .decrypt_inout_detached(&nonce, key_id, buf.as_mut_slice().into(), &tag)
                    .is_err()
            );
        }
    }
    // The three key shares are different random-looking values, and the key
    // shares of two splits of the same object are unrelated.
    let again = split(&object, key_id).expect("split again");
    let ks = |s: &Share| {
        let b = s.to_bytes();
        b[42 + key_id.len()..74 + key_id.len()].to_vec()
    };
    assert_ne!(ks(&shares[0]), ks(&shares[1]));
    assert_ne!(ks(&shares[0]), ks(&again[0]));
    assert_ne!(shares[0].to_bytes(), again[0].to_bytes());
}

#[test]
fn header_errors_are_specific() {
    let bytes = split(b"x", b"id").expect("split")[0].to_bytes();
    let with = |pos: usize, v: u8| {
        let mut b = bytes.clone();
        b[pos] = v;
        Share::from_bytes(&b).expect_err("bad header")
    };
    assert!(matches!(with(0, b'X'), DispersalError::BadMagic { .. }));
    assert_eq!(
        with(4, 2),
        DispersalError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    assert_eq!(with(5, 4), DispersalError::BadIndex { index: 4 });
    assert_eq!(with(5, 0), DispersalError::BadIndex { index: 0 });
    assert_eq!(
        with(6, 3),
        DispersalError::UnsupportedScheme {
            threshold: 3,
            total: 3
        }
    );
    assert!(matches!(
        with(8, 200),
        DispersalError::ShardLengthMismatch { .. }
    ));
    let msg = with(4, 9).to_string();
    assert!(msg.contains("version 9"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // A share it accepts is exactly the bytes it was given (one
        // encoding per share); anything else is refused with a reason.
        match Share::from_bytes(&bytes) {
            Ok(share) => prop_assert_eq!(share.to_bytes(), bytes),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn from_bytes_never_panics_on_plausible_headers(
        tail in proptest::collection::vec(any::<u8>(), 0..256),
        index in any::<u8>(),
        len in any::<u64>(),
        key_id_len in any::<u16>(),
    ) {
        let mut b = b"MKDS".to_vec();
        b.extend_from_slice(&[1, index, 2, 3]);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&[7; 24]);
        b.extend_from_slice(&key_id_len.to_le_bytes());
        b.extend_from_slice(&tail);
        match Share::from_bytes(&b) {
            Ok(share) => prop_assert_eq!(share.to_bytes(), b),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random damage to one share's bytes (flips, truncation, extension):
    /// nothing panics, and `combine` returns the original object or an error,
    /// never different bytes.
    #[test]
    fn damaged_shares_never_yield_wrong_data(
        len in 0usize..600,
        which in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
        with_third in any::<bool>(),
    ) {
        let object = text(len);
        let shares = split(&object, b"p").expect("split");
        let mut bytes = shares[which].to_bytes();
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bytes.extend_from_slice(&extra);
        let other = (which + 1) % 3;
        let mut set = vec![shares[other].clone()];
        if let Ok(damaged) = Share::from_bytes(&bytes) {
            let _ = verify_share(&damaged);
            set.push(damaged);
        }
        if with_third {
            set.push(shares[(which + 2) % 3].clone());
        }
        match combine(&set) {
            Ok(restored) => prop_assert!(restored == object),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn any_two_restore_any_object(
        object in proptest::collection::vec(any::<u8>(), 0..2048),
        key_id in proptest::collection::vec(any::<u8>(), 0..40),
        pair in prop::sample::select(vec![[0usize, 1], [0, 2], [1, 2], [2, 0]]),
    ) {
        let shares = split(&object, &key_id).expect("split");
        let picked: Vec<Share> = pair
            .iter()
            .map(|&i| Share::from_bytes(&shares[i].to_bytes()).expect("parse"))
            .collect();
        prop_assert!(combine(&picked).expect("restore") == object);
    }
}

/// What a restore reports is for logs: a [`Restored`](murakumo_dispersal::Restored) prints
/// which shares were used and why the others were not, never the object (personal data), and
/// each rejected share says which it was and why, in words.
#[test]
fn a_report_names_the_shares_and_never_prints_the_object() {
    let object = text(200);
    let mut shares = split(&object, b"chunk/report").expect("split");
    shares[2] = Share::from_bytes(&{
        let mut b = shares[2].to_bytes();
        let last = b.len() - 1;
        b[last] ^= 0x01;
        b
    })
    .expect("still a share");
    let restored = combine_with_report(&shares).expect("two good shares restore");
    let debug = format!("{restored:?}");
    assert!(
        debug.contains("object_len: 200") && debug.contains("used: [1, 2]"),
        "{debug}"
    );
    assert!(
        !debug.contains("object: ["),
        "the object's bytes leaked into Debug: {debug}"
    );
    let said: Vec<String> = restored.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(said, ["share 3 is corrupted (hash mismatch)"]);
}

/// A share, and what a rebuild gives back, print for logs their identifying metadata only —
/// never a key share, a shard or the object — and a key id that is not short printable text
/// (a control character could forge a log line) prints as hex, cut after 48 bytes.
#[test]
fn shares_print_metadata_only_and_odd_key_ids_as_hex() {
    let object = text(100);
    let shares = split(&object, b"chunk/debug").expect("split");
    let debug = format!("{:?}", shares[0]);
    assert!(
        debug.contains("index: 1")
            && debug.contains(r#"key_id: "\"chunk/debug\"""#)
            && debug.contains("shard_len"),
        "{debug}"
    );
    assert!(
        !debug.contains("shard: [") && !debug.contains("key_share"),
        "{debug}"
    );
    let rebuilt = murakumo_dispersal::rebuild(&shares).expect("rebuild");
    let debug = format!("{rebuilt:?}");
    assert!(
        debug.contains("object_len: 100") && debug.contains("index: 3"),
        "{debug}"
    );
    assert!(!debug.contains("object: ["), "{debug}");

    let key_id = |id: &[u8]| {
        let s = split(&object, id).expect("split");
        let debug = format!("{:?}", s[0]);
        let start = debug.find("key_id: ").expect("key_id") + "key_id: ".len();
        debug[start..]
            .split(", object_len")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        key_id(&[b'a'; 96]),
        format!("\"\\\"{}\\\"\"", "a".repeat(96))
    );
    // 97 characters: too long to quote.
    assert_eq!(key_id(&[b'a'; 97]), format!("\"0x{}…\"", "61".repeat(48)));
    // A line break: hex, whole when 48 bytes or fewer.
    assert_eq!(key_id(b"chunk\nx"), "\"0x6368756e6b0a78\"");
    let mut exactly_48 = vec![b'\n'; 48];
    exactly_48[0] = b'z';
    assert_eq!(key_id(&exactly_48), format!("\"0x7a{}\"", "0a".repeat(47)));
}
