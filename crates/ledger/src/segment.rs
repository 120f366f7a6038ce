//! Segments: runs of consecutive entries of one tenant's chain, compressed,
//! with a header that lets a receiver verify them and know where they fit.
//! Backup, replication, fallback nodes and migration all ship segments.
//!
//! Wire layout (integers big-endian):
//! ```text
//! magic "MKSEG001"                  8
//! tenant code (ASCII)               6
//! first_seq u64, last_seq u64      16
//! prev_hash (before first entry)   32
//! last_hash                        32
//! body_len u64                      8
//! body_blake3                      32
//! body = zstd( repeat { len:u32, canonical entry bytes } )
//! ```
//! Entry hashes are not stored: the receiver recomputes them from the chain,
//! which is what proves the segment intact.

use crate::LedgerOwner;

use crate::{ChainBreak, ChainHash, ChainHead, ChainVerifier, Entry, EntryDecodeError};

pub const SEGMENT_MAGIC: &[u8; 8] = b"MKSEG001";
const HEADER_LEN: usize = 8 + 6 + 16 + 32 + 32 + 8 + 32;
/// A segment body never inflates beyond this; guards against zstd bombs.
/// Shipped segments are a few MiB; rebuild-sized ones stay well below.
const MAX_BODY: usize = 256 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub owner: LedgerOwner,
    pub first_seq: u64,
    pub last_seq: u64,
    pub prev_hash: ChainHash,
    pub last_hash: ChainHash,
}

impl SegmentHeader {
    /// The chain position this segment continues from.
    pub fn start(&self) -> ChainHead {
        ChainHead {
            seq: self.first_seq - 1,
            hash: self.prev_hash,
        }
    }

    pub fn end(&self) -> ChainHead {
        ChainHead {
            seq: self.last_seq,
            hash: self.last_hash,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub header: SegmentHeader,
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("not a ledger segment (bad magic); the file may be from another program or damaged")]
    BadMagic,
    #[error("ledger segment is truncated: {0}")]
    Truncated(&'static str),
    #[error("ledger segment header is invalid: {0}")]
    BadHeader(String),
    #[error(
        "ledger segment body checksum does not match: the segment was damaged in transit or storage"
    )]
    BodyChecksum,
    #[error("ledger segment body does not decompress: {0}")]
    Decompress(String),
    #[error("ledger segment entry {index} is malformed: {source}")]
    Entry {
        index: usize,
        source: EntryDecodeError,
    },
    #[error("ledger segment chain is broken: {0}")]
    Chain(#[from] ChainBreak),
    #[error("a segment needs at least one entry, all of one tenant and consecutive")]
    Empty,
}

impl Segment {
    /// Builds a segment from consecutive entries of one chain.
    pub fn new(entries: Vec<Entry>) -> Result<Segment, SegmentError> {
        let (first, last) = match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(SegmentError::Empty),
        };
        if first.seq == 0 {
            return Err(SegmentError::BadHeader(
                "sequence numbers start at 1".into(),
            ));
        }
        let header = SegmentHeader {
            owner: first.owner,
            first_seq: first.seq,
            last_seq: last.seq,
            prev_hash: first.prev_hash,
            last_hash: last.hash,
        };
        let mut v = ChainVerifier::new(header.owner, header.start());
        for e in &entries {
            v.push(e)?;
        }
        Ok(Segment { header, entries })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for e in &self.entries {
            let bytes = e.canonical_bytes();
            body.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            body.extend_from_slice(&bytes);
        }
        // Level 3: the zstd default, fast enough to keep up with appends.
        let body = zstd::bulk::compress(&body, 3).unwrap_or_default();
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(SEGMENT_MAGIC);
        out.extend_from_slice(h.owner.as_str().as_bytes());
        out.extend_from_slice(&h.first_seq.to_be_bytes());
        out.extend_from_slice(&h.last_seq.to_be_bytes());
        out.extend_from_slice(&h.prev_hash.0);
        out.extend_from_slice(&h.last_hash.0);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads only the header (to decide whether a segment is wanted).
    pub fn decode_header(bytes: &[u8]) -> Result<SegmentHeader, SegmentError> {
        if bytes.len() < 8 || &bytes[..8] != SEGMENT_MAGIC {
            return Err(SegmentError::BadMagic);
        }
        if bytes.len() < HEADER_LEN {
            return Err(SegmentError::Truncated("header"));
        }
        let owner = std::str::from_utf8(&bytes[8..14])
            .ok()
            .and_then(|s| LedgerOwner::parse(s).ok())
            .ok_or_else(|| SegmentError::BadHeader("tenant code is not valid".into()))?;
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(a)
        };
        let hash_at =
            |at: usize| ChainHash::from_slice(&bytes[at..at + 32]).unwrap_or(ChainHash::GENESIS);
        let header = SegmentHeader {
            owner,
            first_seq: u64_at(14),
            last_seq: u64_at(22),
            prev_hash: hash_at(30),
            last_hash: hash_at(62),
        };
        if header.first_seq == 0 || header.last_seq < header.first_seq {
            return Err(SegmentError::BadHeader(format!(
                "sequence range {}..{} is empty or starts at 0",
                header.first_seq, header.last_seq
            )));
        }
        Ok(header)
    }

    /// Decodes and fully verifies a segment: checksum, every entry, the chain
    /// from `prev_hash`, and that it ends exactly at `last_hash`.
    pub fn decode(bytes: &[u8]) -> Result<Segment, SegmentError> {
        let header = Self::decode_header(bytes)?;
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[94..102]);
        let body_len = usize::try_from(u64::from_be_bytes(len))
            .map_err(|_| SegmentError::Truncated("body"))?;
        let body = bytes
            .get(HEADER_LEN..)
            .ok_or(SegmentError::Truncated("body"))?;
        if body.len() != body_len {
            return Err(SegmentError::Truncated("body"));
        }
        if blake3::hash(body).as_bytes() != &bytes[102..134] {
            return Err(SegmentError::BodyChecksum);
        }
        let raw = decompress_bounded(body)?;
        let mut entries = Vec::new();
        let mut verifier = ChainVerifier::new(header.owner, header.start());
        let mut pos = 0usize;
        while pos < raw.len() {
            let index = entries.len();
            let len_bytes = raw
                .get(pos..pos + 4)
                .ok_or(SegmentError::Truncated("entry length"))?;
            let n = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            pos += 4;
            let chunk = raw
                .get(pos..pos.saturating_add(n))
                .ok_or(SegmentError::Truncated("entry"))?;
            pos += n;
            let e = Entry::from_canonical_bytes(chunk, verifier.head().hash)
                .map_err(|source| SegmentError::Entry { index, source })?;
            verifier.push(&e)?;
            entries.push(e);
        }
        verifier.finish(header.end())?;
        Ok(Segment { header, entries })
    }
}

fn decompress_bounded(body: &[u8]) -> Result<Vec<u8>, SegmentError> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(body)
        .map_err(|e| SegmentError::Decompress(e.to_string()))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| SegmentError::Decompress(e.to_string()))?;
    if out.len() > MAX_BODY {
        return Err(SegmentError::Decompress("body exceeds 256 MiB".into()));
    }
    Ok(out)
}

/// Cuts a run of consecutive entries into segments of at most
/// `max_entries` entries or (approximately) `max_bytes` uncompressed bytes.
pub fn cut_segments(
    entries: Vec<Entry>,
    max_entries: usize,
    max_bytes: usize,
) -> Result<Vec<Segment>, SegmentError> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0usize;
    for e in entries {
        let size = 64 + e.kind.len() + e.actor.len() + e.payload.len();
        if !current.is_empty() && (current.len() >= max_entries.max(1) || bytes + size > max_bytes)
        {
            out.push(Segment::new(std::mem::take(&mut current))?);
            bytes = 0;
        }
        bytes += size;
        current.push(e);
    }
    if !current.is_empty() {
        out.push(Segment::new(current)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::chain;

    #[test]
    fn segment_round_trips_and_verifies() {
        let c = chain(100);
        let seg = Segment::new(c[10..50].to_vec()).expect("segment");
        let bytes = seg.encode();
        let back = Segment::decode(&bytes).expect("decodes");
        assert_eq!(back, seg);
        assert_eq!(back.header.first_seq, 11);
        assert_eq!(back.header.last_seq, 50);
        assert_eq!(
            back.header.start(),
            ChainHead {
                seq: 10,
                hash: c[9].hash
            }
        );
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let seg = Segment::new(chain(5)).expect("segment");
        let bytes = seg.encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                Segment::decode(&bad).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn truncation_is_detected() {
        let bytes = Segment::new(chain(5)).expect("segment").encode();
        for cut in 0..bytes.len() {
            assert!(Segment::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn non_consecutive_entries_are_refused() {
        let mut c = chain(5);
        c.remove(2);
        assert!(matches!(
            Segment::new(c),
            Err(SegmentError::Chain(ChainBreak::Missing { .. }))
        ));
        assert!(matches!(Segment::new(vec![]), Err(SegmentError::Empty)));
    }

    #[test]
    fn a_one_entry_segment_round_trips() {
        let c = chain(3);
        let seg = Segment::new(c[2..].to_vec()).expect("segment");
        assert_eq!(seg.header.first_seq, 3);
        assert_eq!(seg.header.last_seq, 3);
        assert_eq!(
            seg.header.end(),
            ChainHead {
                seq: 3,
                hash: c[2].hash
            }
        );
        let bytes = seg.encode();
        assert_eq!(Segment::decode_header(&bytes).expect("header"), seg.header);
        assert_eq!(Segment::decode(&bytes).expect("decodes"), seg);
    }

    /// A header (with a valid magic and tenant) naming `first..=last`.
    fn header_naming(first: u64, last: u64) -> Vec<u8> {
        let mut bytes = Segment::new(chain(5)).expect("segment").encode();
        bytes[14..22].copy_from_slice(&first.to_be_bytes());
        bytes[22..30].copy_from_slice(&last.to_be_bytes());
        bytes
    }

    #[test]
    fn headers_with_an_empty_or_zero_range_are_refused() {
        for (first, last) in [(0, 5), (0, 0), (3, 2), (u64::MAX, 1)] {
            assert!(
                matches!(
                    Segment::decode_header(&header_naming(first, last)),
                    Err(SegmentError::BadHeader(_))
                ),
                "{first}..{last}"
            );
        }
        let h = Segment::decode_header(&header_naming(2, 2)).expect("one entry");
        assert_eq!((h.first_seq, h.last_seq), (2, 2));
    }

    #[test]
    fn a_truncated_header_is_named_as_such() {
        let bytes = Segment::new(chain(5)).expect("segment").encode();
        for cut in 0..8 {
            assert!(matches!(
                Segment::decode_header(&bytes[..cut]),
                Err(SegmentError::BadMagic)
            ));
        }
        for cut in 8..HEADER_LEN {
            assert!(
                matches!(
                    Segment::decode_header(&bytes[..cut]),
                    Err(SegmentError::Truncated("header"))
                ),
                "cut at {cut}"
            );
        }
        // The whole header and no body: the header reads, the segment does not.
        assert!(Segment::decode_header(&bytes[..HEADER_LEN]).is_ok());
        assert!(matches!(
            Segment::decode(&bytes[..HEADER_LEN]),
            Err(SegmentError::Truncated("body"))
        ));
    }

    /// A segment whose body (checksummed, so only decompression can stop it)
    /// inflates to `len` bytes of zeros.
    fn bomb(len: usize) -> Vec<u8> {
        let mut bytes = Segment::new(chain(1)).expect("segment").encode();
        bytes.truncate(HEADER_LEN);
        let mut z = zstd::stream::Encoder::new(Vec::new(), 1).expect("encoder");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..len >> 20 {
            std::io::Write::write_all(&mut z, &chunk).expect("compress");
        }
        std::io::Write::write_all(&mut z, &chunk[..len % (1 << 20)]).expect("compress");
        let body = z.finish().expect("compress");
        bytes[94..102].copy_from_slice(&(body.len() as u64).to_be_bytes());
        bytes[102..134].copy_from_slice(blake3::hash(&body).as_bytes());
        bytes.extend_from_slice(&body);
        bytes
    }

    #[test]
    fn decompression_is_bounded_at_256_mib() {
        // A body that inflates past the bound is refused as such, not read.
        let err = Segment::decode(&bomb(MAX_BODY + 1)).expect_err("a bomb");
        assert!(
            matches!(&err, SegmentError::Decompress(m) if m.contains("256 MiB")),
            "{err}"
        );
        // One that stays within it is read (and fails later, as zeros are
        // no entries).
        let err = Segment::decode(&bomb(MAX_BODY)).expect_err("zeros are no entries");
        assert!(matches!(err, SegmentError::Entry { index: 0, .. }), "{err}");
    }

    /// The size a segment's cut counts for an entry: its lengths plus a
    /// fixed 64 bytes for the rest.
    fn estimate(e: &Entry) -> usize {
        64 + e.kind.len() + e.actor.len() + e.payload.len()
    }

    #[test]
    fn cutting_by_bytes_fills_each_segment_up_to_the_bound() {
        let c = chain(30);
        // Entries 1–9 have a 9-byte payload, 10–30 one of 10 bytes.
        let size = estimate(&c[20]);
        assert_eq!(size, 64 + 10 + 11 + 10);
        for per in [1, 2, 3, 7] {
            // Exactly `per` entries of the later size fit.
            let segs = cut_segments(c[9..].to_vec(), usize::MAX, per * size).expect("cut");
            assert!(
                segs.iter()
                    .all(|s| s.entries.len() == per || s == segs.last().expect("last")),
                "{per}: {:?}",
                segs.iter().map(|s| s.entries.len()).collect::<Vec<_>>()
            );
            assert_eq!(segs.len(), 21_usize.div_ceil(per));
            // One byte less: one entry fewer (but never none).
            let segs = cut_segments(c[9..].to_vec(), usize::MAX, per * size - 1).expect("cut");
            assert_eq!(segs[0].entries.len(), (per - 1).max(1), "{per}");
        }
        // Every segment stays within the bound unless it holds one entry,
        // and the next entry would not have fitted.
        let max = 1000;
        let segs = cut_segments(c.clone(), usize::MAX, max).expect("cut");
        for pair in segs.windows(2) {
            let total: usize = pair[0].entries.iter().map(estimate).sum();
            assert!(total <= max);
            assert!(total + estimate(&pair[1].entries[0]) > max);
        }
        // Count and bytes together: whichever comes first.
        let segs = cut_segments(c, 4, max).expect("cut");
        assert!(segs.iter().all(|s| s.entries.len() <= 4));
        assert_eq!(segs[0].entries.len(), 4);
    }

    #[test]
    fn cutting_keeps_every_entry_in_order() {
        let c = chain(1000);
        let segs = cut_segments(c.clone(), 128, usize::MAX).expect("cut");
        assert_eq!(segs.len(), 8);
        let rejoined: Vec<Entry> = segs.into_iter().flat_map(|s| s.entries).collect();
        assert_eq!(rejoined, c);
        let by_bytes = cut_segments(c, usize::MAX, 4096).expect("cut");
        assert!(by_bytes.len() > 1);
        for pair in by_bytes.windows(2) {
            assert_eq!(pair[0].header.end(), pair[1].header.start());
        }
    }
}
