//! `Entry::from_canonical_bytes` on arbitrary bytes.
//!
//! Properties: never panics; an accepted input is exactly the canonical form
//! of what it decoded to (no second spelling of the same entry, hence no
//! second hash for it); the hash is recomputed and links to the given
//! `prev_hash`; the result does not depend on `prev_hash` except for the
//! hashes; errors format without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murakumo_ledger::{ChainHash, Entry};

fuzz_target!(|data: &[u8]| {
    let other_prev = ChainHash([0xA5; 32]);
    let a = Entry::from_canonical_bytes(data, ChainHash::GENESIS);
    let b = Entry::from_canonical_bytes(data, other_prev);
    match (a, b) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                a.canonical_bytes(),
                data,
                "accepted bytes are not canonical"
            );
            assert_eq!(a.prev_hash, ChainHash::GENESIS);
            assert_eq!(a.hash, a.compute_hash());
            assert_eq!(b.prev_hash, other_prev);
            assert_eq!(b.hash, b.compute_hash());
            assert_ne!(a.hash, b.hash, "prev_hash is not covered by the hash");
            let b_relinked = Entry {
                prev_hash: a.prev_hash,
                hash: a.hash,
                ..b
            };
            assert_eq!(a, b_relinked);
            // The decoded fields survive a second round trip.
            let again = Entry::from_canonical_bytes(&a.canonical_bytes(), a.prev_hash)
                .expect("re-encoded entry decodes");
            assert_eq!(again, a);
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "the error depends on prev_hash");
            let _ = a.to_string();
            let _ = format!("{a:?}");
        }
        (a, b) => panic!("prev_hash changed acceptance: {a:?} vs {b:?}"),
    }
});
