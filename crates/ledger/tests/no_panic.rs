//! The ledger's parsers on hostile input, as a cheap stand-in for the cargo-fuzz
//! targets in `fuzz/` (which CI cannot afford to run): `Entry::from_canonical_bytes`
//! and `Segment::decode`/`Segment::decode_header` are thrown arbitrary bytes and
//! damaged valid encodings, and must never panic. Whatever they accept must be
//! exactly what was encoded: an entry re-encodes to the bytes it was read from,
//! and a segment, being authenticated end to end by its chain and header,
//! decodes either to the segment that was encoded or to an error.
//!
//! The `regression_*` tests at the end hold the inputs that fuzzing found (see
//! `fuzz/README.md`): a sequence number past `u64::MAX`, a segment starting
//! at 0, and kinds longer than a 16-bit length (the format now uses 32-bit
//! lengths, so nothing is cut outside the hash).

use chrono::{Datelike as _, NaiveDate};
use murakumo_core::TenantCode;
use murakumo_ledger::{
    ChainHash, Entry, NewEntry, RecordedAt, SEGMENT_MAGIC, Segment, SegmentHeader,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const TENANTS: [&str; 4] = ["131016", "011002", "472018", "130001"];

fn tenant(i: usize) -> TenantCode {
    TenantCode::parse(TENANTS[i % TENANTS.len()]).expect("fixture tenant code")
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Failures are reported with their minimal input; nothing is written
        // next to the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn arb_new_entry() -> impl Strategy<Value = NewEntry> {
    let days = NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce();
    (
        prop_oneof!["[a-z]{1,8}\\.[a-z_]{1,16}", "\\PC{0,12}"],
        any::<u16>(),
        days,
        prop_oneof!["(staff|operator|system):[a-z0-9]{1,8}", "\\PC{0,12}"],
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(kind, version, days, actor, payload)| NewEntry {
            kind,
            version,
            effective_date: NaiveDate::from_num_days_from_ce_opt(days).expect("in range"),
            actor,
            payload,
        })
}

/// First sequence numbers for a run of `n` entries: small ones, and ones that
/// end the run exactly at `u64::MAX` (the last value a chain can reach; see
/// `regression_segment_seq_wrap_*` for what happens past it).
fn arb_first_seq(n: usize) -> impl Strategy<Value = u64> {
    let last_start = u64::MAX - (n as u64 - 1);
    prop_oneof![
        2 => 1..=64u64,
        1 => Just(last_start),
        2 => 1..=last_start,
    ]
}

/// A run of 1–5 sealed, consecutive entries of one chain.
fn arb_chain() -> impl Strategy<Value = Vec<Entry>> {
    (1usize..=5)
        .prop_flat_map(|n| {
            (
                0..TENANTS.len(),
                arb_first_seq(n),
                prop_oneof![Just([0u8; 32]), any::<[u8; 32]>()],
                prop::collection::vec((any::<i64>(), arb_new_entry()), n),
            )
        })
        .prop_map(|(t, first_seq, prev, news)| {
            let mut prev = ChainHash(prev);
            // Not `first_seq..`: that iterator overflows after yielding u64::MAX.
            (0u64..)
                .zip(news)
                .map(|(i, (at, new))| {
                    let e = Entry::seal(tenant(t), first_seq + i, prev, RecordedAt(at), new);
                    prev = e.hash;
                    e
                })
                .collect()
        })
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    arb_chain().prop_map(|mut c| c.remove(0))
}

/// Damage done to an encoding. Positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Damage {
    Flip {
        at: usize,
        mask: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
    /// Writes a big-endian integer, to hit length and sequence fields with
    /// boundary values.
    Int {
        at: usize,
        width: usize,
        value: u64,
    },
    Append(Vec<u8>),
}

fn arb_damage() -> impl Strategy<Value = Damage> {
    let value = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::from(u16::MAX)),
        Just(u64::from(u32::MAX)),
        Just(1 << 31),
        any::<u64>(),
    ];
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        1 => any::<usize>().prop_map(|at| Damage::Truncate { at }),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Damage::Insert { at, byte }),
        1 => any::<usize>().prop_map(|at| Damage::Remove { at }),
        2 => (any::<usize>(), prop::sample::select(vec![1usize, 2, 4, 8]), value)
            .prop_map(|(at, width, value)| Damage::Int { at, width, value }),
        1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(Damage::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, damage: &Damage) {
    let pos = |at: usize, len: usize| if len == 0 { 0 } else { at % len };
    match damage {
        Damage::Flip { at, mask } => {
            if !bytes.is_empty() {
                let i = pos(*at, bytes.len());
                bytes[i] ^= mask;
            }
        }
        Damage::Truncate { at } => {
            let i = pos(*at, bytes.len());
            bytes.truncate(i);
        }
        Damage::Insert { at, byte } => {
            let i = pos(*at, bytes.len() + 1);
            bytes.insert(i, *byte);
        }
        Damage::Remove { at } => {
            if !bytes.is_empty() {
                let i = pos(*at, bytes.len());
                bytes.remove(i);
            }
        }
        Damage::Int { at, width, value } => {
            let be = value.to_be_bytes();
            let i = pos(*at, bytes.len());
            for (dst, src) in bytes[i..].iter_mut().zip(&be[8 - width..]) {
                *dst = *src;
            }
        }
        Damage::Append(more) => bytes.extend_from_slice(more),
    }
}

fn damaged(bytes: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for d in damages {
        apply(&mut out, d);
    }
    out
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// What every accepted entry must satisfy.
fn check_accepted_entry(bytes: &[u8], prev: ChainHash, e: &Entry) {
    assert_eq!(
        e.canonical_bytes(),
        bytes,
        "accepted bytes are not canonical"
    );
    assert_eq!(e.prev_hash, prev);
    assert_eq!(e.hash, e.compute_hash());
}

/// The uncompressed body stream `Segment::encode` compresses.
fn raw_body(entries: &[Entry]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        let bytes = e.canonical_bytes();
        body.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        body.extend_from_slice(&bytes);
    }
    body
}

/// Segment bytes for `header` and an already compressed `body`, with a
/// correct length and checksum: what any sender can produce, since the
/// checksum is not keyed.
fn assemble(h: &SegmentHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(h.owner.as_str().as_bytes());
    out.extend_from_slice(&h.first_seq.to_be_bytes());
    out.extend_from_slice(&h.last_seq.to_be_bytes());
    out.extend_from_slice(&h.prev_hash.0);
    out.extend_from_slice(&h.last_hash.0);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes, checking the properties any result must have; `Ok` only for a
/// segment that passes every check.
fn decode_checked(bytes: &[u8]) -> Option<Segment> {
    let header = Segment::decode_header(bytes);
    match Segment::decode(bytes) {
        Ok(seg) => {
            let header = header.expect("decode accepted what decode_header refused");
            assert_eq!(header, seg.header);
            let rebuilt = Segment::new(seg.entries.clone()).expect("decoded entries chain");
            assert_eq!(rebuilt, seg);
            let again = Segment::decode(&seg.encode()).expect("re-encoded segment decodes");
            assert_eq!(again, seg);
            Some(seg)
        }
        Err(e) => {
            let _ = e.to_string();
            if let Err(e) = header {
                let _ = e.to_string();
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn entry_from_arbitrary_bytes_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..96),
            // Past the format tag and tenant, so the rest of the layout is reached.
            prop::collection::vec(any::<u8>(), 0..96)
                .prop_map(|rest| [b"MKE1131016".as_slice(), &rest].concat()),
        ],
        prev in any::<[u8; 32]>(),
    ) {
        if let Ok(e) = Entry::from_canonical_bytes(&bytes, ChainHash(prev)) {
            check_accepted_entry(&bytes, ChainHash(prev), &e);
        }
    }

    #[test]
    fn entry_round_trips(e in arb_entry()) {
        let back = Entry::from_canonical_bytes(&e.canonical_bytes(), e.prev_hash);
        prop_assert_eq!(back, Ok(e));
    }

    #[test]
    fn damaged_entry_is_refused_or_canonical(
        e in arb_entry(),
        damages in prop::collection::vec(arb_damage(), 1..4),
    ) {
        let bytes = damaged(&e.canonical_bytes(), &damages);
        match Entry::from_canonical_bytes(&bytes, e.prev_hash) {
            Ok(got) => {
                check_accepted_entry(&bytes, e.prev_hash, &got);
                // Same bytes, same entry; different bytes, different hash.
                prop_assert_eq!(got.hash == e.hash, bytes == e.canonical_bytes());
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn segment_from_arbitrary_bytes_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            // Past the magic and tenant, so the header fields are read.
            (0..TENANTS.len(), prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(t, rest)| {
                [SEGMENT_MAGIC.as_slice(), tenant(t).as_str().as_bytes(), &rest].concat()
            }),
        ],
    ) {
        // Random bytes essentially never carry a right checksum.
        prop_assert!(decode_checked(&bytes).is_none());
    }

    #[test]
    fn segment_round_trips(c in arb_chain()) {
        let seg = Segment::new(c).expect("consecutive sealed entries");
        let bytes = seg.encode();
        let back = Segment::decode(&bytes).expect("an encoded segment decodes");
        prop_assert_eq!(&back, &seg);
        prop_assert_eq!(back.encode(), bytes.clone());
        prop_assert_eq!(Segment::decode_header(&bytes).ok(), Some(seg.header));
    }

    #[test]
    fn damaged_segment_is_refused_or_the_original(
        c in arb_chain(),
        damages in prop::collection::vec(arb_damage(), 1..4),
    ) {
        let seg = Segment::new(c).expect("consecutive sealed entries");
        let bytes = seg.encode();
        let bad = damaged(&bytes, &damages);
        match decode_checked(&bad) {
            Some(got) => prop_assert_eq!(got, seg),
            None => prop_assert_ne!(bad, bytes),
        }
    }

    /// Damage behind a *correct* checksum: the body stream is damaged, then
    /// compressed and summed again, as an attacker could. This reaches the
    /// entry parser and chain checks inside `Segment::decode`, which damage to
    /// the encoded bytes (caught by the checksum) does not.
    #[test]
    fn damaged_body_with_valid_checksum_is_refused_or_the_original(
        c in arb_chain(),
        damages in prop::collection::vec(arb_damage(), 0..4),
    ) {
        let seg = Segment::new(c).expect("consecutive sealed entries");
        let raw = raw_body(&seg.entries);
        let bad_raw = damaged(&raw, &damages);
        let body = zstd::bulk::compress(&bad_raw, 1).expect("compresses");
        let bytes = assemble(&seg.header, &body);
        match decode_checked(&bytes) {
            Some(got) => prop_assert_eq!(got, seg),
            None => prop_assert_ne!(bad_raw, raw),
        }
    }
}

// ---------------------------------------------------------------------------
// Regressions from fuzzing (fuzz/README.md, "Findings")
// ---------------------------------------------------------------------------

/// Finding 2, through the parser: a segment whose header starts at
/// `u64::MAX` and whose body holds a second entry after the one numbered
/// `u64::MAX`. Its checksum is right (anyone can compute it).
/// `ChainVerifier::push` computes `last.seq + 1` unchecked: with overflow
/// checks on (debug builds, fuzzing) `Segment::decode` panics at
/// crates/ledger/src/verify.rs:96; without them the sum wraps to 0, the second
/// entry (numbered 0) is *accepted* as the next one, and only the final head
/// check refuses the segment ("chain ends at entry 0 but its recorded head is
/// entry 18446744073709551615").
fn seq_wrap_segment() -> Vec<u8> {
    let first = Entry::seal(
        tenant(0),
        u64::MAX,
        ChainHash::GENESIS,
        RecordedAt(0),
        new_entry(),
    );
    let second = Entry::seal(tenant(0), 0, first.hash, RecordedAt(0), new_entry());
    let body = zstd::bulk::compress(&raw_body(&[first.clone(), second]), 3).expect("compress");
    let header = SegmentHeader {
        owner: tenant(0).into(),
        first_seq: u64::MAX,
        last_seq: u64::MAX,
        prev_hash: ChainHash::GENESIS,
        last_hash: first.hash,
    };
    assemble(&header, &body)
}

#[test]
fn regression_segment_seq_wrap_is_refused_without_panicking() {
    let result = std::panic::catch_unwind(|| Segment::decode(&seq_wrap_segment()).is_err());
    assert_eq!(
        result.ok(),
        Some(true),
        "want Some(true): Err; None: it panicked, Some(false): accepted"
    );
}

#[test]
fn regression_segment_new_refuses_entries_past_u64_max() {
    let a = Entry::seal(
        tenant(0),
        u64::MAX,
        ChainHash::GENESIS,
        RecordedAt(0),
        new_entry(),
    );
    let b = Entry::seal(tenant(0), 0, a.hash, RecordedAt(0), new_entry());
    let result = std::panic::catch_unwind(|| Segment::new(vec![a, b]).is_err());
    assert_eq!(
        result.ok(),
        Some(true),
        "want Some(true): Err; None: it panicked, Some(false): accepted"
    );
}

/// Finding 1: `Segment::new` with a first entry numbered 0 panics in
/// `SegmentHeader::start` (`first_seq - 1`, crates/ledger/src/segment.rs:41)
/// with overflow checks on; without them it builds a segment whose encoding
/// `Segment::decode` refuses ("sequence range 0..0 is empty or starts at 0").
#[test]
fn regression_segment_new_refuses_seq_zero() {
    let e = Entry::seal(tenant(0), 0, ChainHash::GENESIS, RecordedAt(0), new_entry());
    let result = std::panic::catch_unwind(|| Segment::new(vec![e]).is_err());
    assert_eq!(
        result.ok(),
        Some(true),
        "want Some(true): Err; None: it panicked, Some(false): accepted"
    );
}

/// Finding 3: the canonical form cuts `kind` and `actor` at 65,535 bytes
/// (`put_str16`), so the hash does not cover the rest: two entries that differ
/// only after byte 65,535 of `kind` get the same hash, and such an entry (or a
/// segment holding it) does not round-trip — it decodes, verified, to a
/// different entry.
#[test]
fn regression_long_kind_is_covered_by_the_hash_and_round_trips() {
    let long = |tail: &str| NewEntry {
        kind: format!("{}{tail}", "k".repeat(usize::from(u16::MAX))),
        ..new_entry()
    };
    let a = Entry::seal(tenant(0), 1, ChainHash::GENESIS, RecordedAt(0), long("a"));
    let b = Entry::seal(tenant(0), 1, ChainHash::GENESIS, RecordedAt(0), long("b"));
    assert_ne!(a.hash, b.hash, "kind is not fully covered by the hash");
    let back = Entry::from_canonical_bytes(&a.canonical_bytes(), a.prev_hash);
    assert_eq!(back.as_ref().ok(), Some(&a), "entry does not round-trip");
}

fn new_entry() -> NewEntry {
    NewEntry {
        kind: "k".into(),
        version: 1,
        effective_date: NaiveDate::from_ymd_opt(2024, 4, 1).expect("date"),
        actor: "a".into(),
        payload: Vec::new(),
    }
}
