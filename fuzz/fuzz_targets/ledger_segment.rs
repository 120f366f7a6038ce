//! `Segment::decode` and `Segment::decode_header` on untrusted bytes.
//!
//! The first input byte picks a mode:
//! - raw (`% 3 == 0`): the rest is handed to the decoder as is. Exercises
//!   the header checks; random bytes almost never pass the body checksum.
//! - crafted (`% 3 == 1`): the rest is a small header recipe followed by an
//!   *uncompressed* body; the target compresses it and writes a correct
//!   `body_len` and checksum, as any sender (or attacker: the checksum is not
//!   keyed) can. An independent reference reader (`murakumo_fuzz::
//!   reference_entries`) says which entries a correct decoder must return,
//!   and the result must match it exactly (`Ok` with those entries, or `Err`).
//! - crafted-compressed (`% 3 == 2`): like crafted, but the body is taken as
//!   already compressed, so the zstd stream itself is fuzzed.
//!
//! Recipe: `flags:u8 prev:u8 first_seq:u64 last_seq:u64`. `flags & 3` picks
//! a tenant, `flags & 0x80` asks the target to set `last_seq`/`last_hash` to
//! what the reference reader computed, so that fully valid segments are
//! reachable; `prev` 0 means a genesis `prev_hash`, else `[prev; 32]`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use murakumo_fuzz::{RawHeader, assemble, reference_entries, tenant};
use murakumo_ledger::{ChainHash, Segment};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => raw(rest),
        1 => crafted(rest, false),
        _ => crafted(rest, true),
    }
});

fn raw(bytes: &[u8]) {
    let header = Segment::decode_header(bytes);
    match Segment::decode(bytes) {
        Ok(seg) => {
            let header = header.expect("decode accepted what decode_header refused");
            assert_eq!(header, seg.header);
            check_decoded(&seg);
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = format!("{e:?}");
        }
    }
}

fn crafted(rest: &[u8], compressed: bool) {
    let Some((recipe, body)) = rest.split_first_chunk::<18>() else {
        return;
    };
    let flags = recipe[0];
    let prev = match recipe[1] {
        0 => ChainHash::GENESIS,
        b => ChainHash([b; 32]),
    };
    let first_seq = u64::from_be_bytes(recipe[2..10].try_into().expect("8 bytes"));
    let mut last_seq = u64::from_be_bytes(recipe[10..18].try_into().expect("8 bytes"));
    let mut last_hash = ChainHash([0x5A; 32]);
    let tenant = tenant(flags);

    let (raw_body, wire_body) = if compressed {
        // Only small outputs are used for the oracle; the decoder itself gets
        // the body whatever it inflates to.
        (zstd::bulk::decompress(body, 1 << 20).ok(), body.to_vec())
    } else {
        let packed = zstd::bulk::compress(body, 1).expect("zstd compresses");
        (Some(body.to_vec()), packed)
    };
    let reference = raw_body
        .as_deref()
        .and_then(|raw| reference_entries(raw, &tenant, first_seq, prev));
    if flags & 0x80 != 0
        && let Some(last) = reference.as_ref().and_then(|v| v.last())
    {
        last_seq = last.seq;
        last_hash = last.hash;
    }
    let header = RawHeader {
        tenant: tenant.as_str().as_bytes().try_into().expect("6 digits"),
        first_seq,
        last_seq,
        prev_hash: prev.0,
        last_hash: last_hash.0,
    };
    let bytes = assemble(&header, &wire_body);
    let result = Segment::decode(&bytes);

    // What a correct decoder returns, when the reference reader could tell.
    let expected = reference.filter(|v| {
        first_seq != 0
            && v.last()
                .is_some_and(|l| l.seq == last_seq && l.hash == last_hash)
    });
    match (&result, expected) {
        (Ok(seg), Some(entries)) => assert_eq!(seg.entries, entries),
        (Err(e), None) => {
            let _ = e.to_string();
        }
        // Too large (or not a frame the bulk decoder reads): no oracle.
        (Ok(_), None) if compressed && raw_body.is_none() => {}
        (Err(e), Some(_)) if compressed => {
            // The stream decoder and the bulk decoder may disagree on odd
            // framing (e.g. trailing bytes); that is not a ledger bug.
            let _ = e.to_string();
        }
        (result, expected) => panic!(
            "decode disagrees with the reference reader:\n decode: {result:?}\n reference: {expected:?}"
        ),
    }
    if let Ok(seg) = &result {
        check_decoded(seg);
    }
}

/// What every successfully decoded segment promises.
fn check_decoded(seg: &Segment) {
    let h = &seg.header;
    let (Some(first), Some(last)) = (seg.entries.first(), seg.entries.last()) else {
        panic!("decoded segment without entries");
    };
    assert_eq!(first.seq, h.first_seq);
    assert_eq!(first.prev_hash, h.prev_hash);
    assert_eq!(last.seq, h.last_seq);
    assert_eq!(last.hash, h.last_hash);
    for pair in seg.entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(Some(pair[1].seq), pair[0].seq.checked_add(1));
    }
    for e in &seg.entries {
        assert_eq!(e.owner, h.owner);
        assert_eq!(e.hash, e.compute_hash());
    }
    let rebuilt = Segment::new(seg.entries.clone()).expect("decoded entries form a segment");
    assert_eq!(&rebuilt, seg);
    let again = Segment::decode(&seg.encode()).expect("re-encoded segment decodes");
    assert_eq!(&again, seg);
}
