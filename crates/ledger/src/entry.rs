//! One ledger entry and its canonical byte form.

use std::fmt;

use crate::LedgerOwner;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// BLAKE3 hash linking an entry to its predecessor. The hash "before" the
/// first entry of a chain is [`ChainHash::GENESIS`] (all zeros).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<ChainHash> {
        <[u8; 32]>::try_from(bytes).ok().map(ChainHash)
    }

    pub fn from_hex(s: &str) -> Option<ChainHash> {
        hex::decode(s).ok().and_then(|b| Self::from_slice(&b))
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", &self.to_hex()[..16])
    }
}

/// Recording time (届出日/処理日 side of the bitemporal pair), kept as
/// microseconds since the Unix epoch so it round-trips exactly through every
/// store and wire format.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RecordedAt(pub i64);

impl RecordedAt {
    pub fn now() -> RecordedAt {
        RecordedAt(Utc::now().timestamp_micros())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }

    pub fn from_datetime(t: DateTime<Utc>) -> RecordedAt {
        RecordedAt(t.timestamp_micros())
    }
}

/// What a domain hands the ledger to append: the chain supplies its owner,
/// sequence, previous hash and recording time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// Event kind, e.g. `tenancy.setting_changed`; namespaced by domain.
    pub kind: String,
    /// Schema version of the payload for this kind.
    pub version: u16,
    /// 異動日: the date the event takes effect in the real world.
    pub effective_date: NaiveDate,
    /// `staff:<id>`, `operator:<id>` or `system:<job>`.
    pub actor: String,
    pub payload: Vec<u8>,
}

/// A sealed ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Whose chain: a municipality's or the platform's.
    pub owner: LedgerOwner,
    pub seq: u64,
    pub prev_hash: ChainHash,
    pub kind: String,
    pub version: u16,
    pub effective_date: NaiveDate,
    pub recorded_at: RecordedAt,
    pub actor: String,
    pub payload: Vec<u8>,
    pub hash: ChainHash,
}

/// Format tag at the start of canonical bytes; bump when the layout changes.
const CANONICAL_TAG: &[u8; 4] = b"MKE1";
/// BLAKE3 key-derivation context: separates ledger hashes from any other
/// BLAKE3 use in the system.
const HASH_CONTEXT: &str = "murakumo 2026 ledger entry v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryDecodeError {
    #[error("ledger entry bytes are truncated at offset {offset} while reading {field}")]
    Truncated { offset: usize, field: &'static str },
    #[error("ledger entry has an unknown format tag {0:?}; this build reads MKE1")]
    UnknownFormat([u8; 4]),
    #[error("ledger entry field {field} is not valid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("ledger entry has {0} trailing bytes after the payload")]
    Trailing(usize),
}

impl Entry {
    /// Seals a new entry onto a chain whose last entry is (`seq - 1`, `prev_hash`).
    pub fn seal(
        owner: impl Into<LedgerOwner>,
        seq: u64,
        prev_hash: ChainHash,
        recorded_at: RecordedAt,
        new: NewEntry,
    ) -> Entry {
        let mut e = Entry {
            owner: owner.into(),
            seq,
            prev_hash,
            kind: new.kind,
            version: new.version,
            effective_date: new.effective_date,
            recorded_at,
            actor: new.actor,
            payload: new.payload,
            hash: ChainHash::GENESIS,
        };
        e.hash = e.compute_hash();
        e
    }

    /// The hash this entry must have: BLAKE3(prev_hash ‖ canonical bytes).
    pub fn compute_hash(&self) -> ChainHash {
        let mut h = blake3::Hasher::new_derive_key(HASH_CONTEXT);
        h.update(&self.prev_hash.0);
        h.update(&self.canonical_bytes());
        ChainHash(*h.finalize().as_bytes())
    }

    /// The stable, versioned byte form of everything but the hashes.
    ///
    /// Layout (all integers big-endian):
    /// `"MKE1" owner[6] seq:u64 kind_len:u32 kind version:u16
    ///  effective_days_from_ce:i32 recorded_at_micros:i64 actor_len:u32 actor
    ///  payload_len:u64 payload`
    ///
    /// Lengths are wide enough that nothing is ever cut, so the hash always
    /// covers every byte of the entry.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(48 + self.kind.len() + self.actor.len() + self.payload.len());
        out.extend_from_slice(CANONICAL_TAG);
        out.extend_from_slice(self.owner.as_str().as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        put_bytes32(&mut out, self.kind.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.effective_date.num_days_from_ce().to_be_bytes());
        out.extend_from_slice(&self.recorded_at.0.to_be_bytes());
        put_bytes32(&mut out, self.actor.as_bytes());
        out.extend_from_slice(&(self.payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parses canonical bytes back into an entry linked to `prev_hash`,
    /// recomputing its hash. Never panics on any input.
    pub fn from_canonical_bytes(
        bytes: &[u8],
        prev_hash: ChainHash,
    ) -> Result<Entry, EntryDecodeError> {
        let mut r = Reader { bytes, pos: 0 };
        let tag: [u8; 4] = r.array("format tag")?;
        if &tag != CANONICAL_TAG {
            return Err(EntryDecodeError::UnknownFormat(tag));
        }
        let tenant_raw: [u8; 6] = r.array("tenant")?;
        let tenant_str =
            std::str::from_utf8(&tenant_raw).map_err(|_| invalid("tenant", "not ASCII digits"))?;
        let owner =
            LedgerOwner::parse(tenant_str).map_err(|e| invalid("tenant", &e.to_string()))?;
        let seq = u64::from_be_bytes(r.array("seq")?);
        let kind = r.str32("kind")?;
        let version = u16::from_be_bytes(r.array("version")?);
        let days = i32::from_be_bytes(r.array("effective_date")?);
        let effective_date = NaiveDate::from_num_days_from_ce_opt(days)
            .ok_or_else(|| invalid("effective_date", "out of range"))?;
        let recorded_at = RecordedAt(i64::from_be_bytes(r.array("recorded_at")?));
        let actor = r.str32("actor")?;
        let len =
            usize::try_from(u64::from_be_bytes(r.array("payload length")?)).unwrap_or(usize::MAX);
        let payload = r.take(len, "payload")?.to_vec();
        if r.pos != bytes.len() {
            return Err(EntryDecodeError::Trailing(bytes.len() - r.pos));
        }
        let mut e = Entry {
            owner,
            seq,
            prev_hash,
            kind,
            version,
            effective_date,
            recorded_at,
            actor,
            payload,
            hash: ChainHash::GENESIS,
        };
        e.hash = e.compute_hash();
        Ok(e)
    }
}

fn put_bytes32(out: &mut Vec<u8>, b: &[u8]) {
    // A kind or actor of 4 GiB cannot exist in memory next to its entry;
    // the conversion is checked anyway rather than cast.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&b[..len as usize]);
}

fn invalid(field: &'static str, reason: &str) -> EntryDecodeError {
    EntryDecodeError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EntryDecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(EntryDecodeError::Truncated {
                offset: self.pos,
                field,
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EntryDecodeError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn str32(&mut self, field: &'static str) -> Result<String, EntryDecodeError> {
        let len = u32::from_be_bytes(self.array(field)?) as usize;
        let raw = self.take(len, field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| invalid(field, "not UTF-8"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use murakumo_core::TenantCode;

    pub fn tenant() -> TenantCode {
        TenantCode::parse("131016").expect("valid code")
    }

    pub fn new_entry(i: u64) -> NewEntry {
        NewEntry {
            kind: "test.event".into(),
            version: 1,
            effective_date: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
            actor: "system:test".into(),
            payload: format!("payload {i}").into_bytes(),
        }
    }

    /// A chain of `n` entries starting at seq 1.
    pub fn chain(n: u64) -> Vec<Entry> {
        let mut prev = ChainHash::GENESIS;
        (1..=n)
            .map(|seq| {
                let e = Entry::seal(
                    tenant(),
                    seq,
                    prev,
                    RecordedAt(1_700_000_000_000_000 + seq as i64),
                    new_entry(seq),
                );
                prev = e.hash;
                e
            })
            .collect()
    }

    #[test]
    fn canonical_bytes_round_trip() {
        for e in chain(5) {
            let back =
                Entry::from_canonical_bytes(&e.canonical_bytes(), e.prev_hash).expect("decodes");
            assert_eq!(back, e);
        }
    }

    /// The platform's chain is stored under six digits of its own and reads back as the
    /// platform's, never as a municipality's.
    #[test]
    fn a_platform_entry_round_trips_and_hashes_apart_from_a_tenants() {
        let at = RecordedAt(1_700_000_000_000_000);
        let platform = Entry::seal(
            LedgerOwner::Platform,
            1,
            ChainHash::GENESIS,
            at,
            new_entry(1),
        );
        let back = Entry::from_canonical_bytes(&platform.canonical_bytes(), ChainHash::GENESIS)
            .expect("decodes");
        assert_eq!(back.owner, LedgerOwner::Platform);
        assert_eq!(back, platform);
        let tenants = Entry::seal(tenant(), 1, ChainHash::GENESIS, at, new_entry(1));
        assert_ne!(platform.hash, tenants.hash);
    }

    #[test]
    fn hash_covers_every_field() {
        let e = chain(1).remove(0);
        let variants = [
            Entry {
                seq: 2,
                ..e.clone()
            },
            Entry {
                kind: "test.other".into(),
                ..e.clone()
            },
            Entry {
                version: 2,
                ..e.clone()
            },
            Entry {
                effective_date: NaiveDate::from_ymd_opt(2026, 4, 2).expect("date"),
                ..e.clone()
            },
            Entry {
                recorded_at: RecordedAt(e.recorded_at.0 + 1),
                ..e.clone()
            },
            Entry {
                actor: "staff:2".into(),
                ..e.clone()
            },
            Entry {
                payload: b"payload X".to_vec(),
                ..e.clone()
            },
            Entry {
                prev_hash: ChainHash([1; 32]),
                ..e.clone()
            },
            Entry {
                owner: TenantCode::parse("011002").expect("valid").into(),
                ..e.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.compute_hash(), e.hash, "{v:?}");
        }
    }

    #[test]
    fn truncated_and_garbage_bytes_are_errors_not_panics() {
        let bytes = chain(1)[0].canonical_bytes();
        for cut in 0..bytes.len() {
            assert!(Entry::from_canonical_bytes(&bytes[..cut], ChainHash::GENESIS).is_err());
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(
            Entry::from_canonical_bytes(&extra, ChainHash::GENESIS),
            Err(EntryDecodeError::Trailing(1))
        );
    }

    #[test]
    fn hashes_print_and_parse_as_hex() {
        let h = chain(1).remove(0).hash;
        assert_eq!(h.to_string(), PINNED_FIRST_HASH);
        assert_eq!(
            format!("{h:?}"),
            format!("ChainHash({})", &PINNED_FIRST_HASH[..16])
        );
        assert_eq!(ChainHash::from_hex(PINNED_FIRST_HASH), Some(h));
        assert_eq!(ChainHash::from_slice(&h.0), Some(h));
        assert_eq!(ChainHash::from_hex(&PINNED_FIRST_HASH[2..]), None);
        assert_eq!(ChainHash::from_hex("zz"), None);
        assert_eq!(ChainHash::from_slice(&[1; 31]), None);
    }

    #[test]
    fn recorded_times_round_trip_through_date_times() {
        let t = RecordedAt(1_700_000_000_123_456);
        let dt = t.to_datetime();
        assert_eq!(dt.to_rfc3339(), "2023-11-14T22:13:20.123456+00:00");
        assert_eq!(RecordedAt::from_datetime(dt), t);
        // now() is the present, not the epoch.
        let now = RecordedAt::now();
        assert!(now > t, "{:?}", now.to_datetime());
    }

    #[test]
    fn trailing_bytes_are_counted() {
        let bytes = chain(1)[0].canonical_bytes();
        for n in [1usize, 2, 100] {
            let mut extra = bytes.clone();
            extra.extend(std::iter::repeat_n(0, n));
            assert_eq!(
                Entry::from_canonical_bytes(&extra, ChainHash::GENESIS),
                Err(EntryDecodeError::Trailing(n))
            );
        }
    }

    #[test]
    fn hash_is_stable_across_releases() {
        // Pinned: a change here means old ledgers no longer verify.
        let e = chain(1).remove(0);
        assert_eq!(e.hash.to_hex(), PINNED_FIRST_HASH);
    }

    const PINNED_FIRST_HASH: &str =
        "72ce257f49c77bcacc093464d0945108e475cbb4ffd8fa20919ab4e29c6c2529";
}
