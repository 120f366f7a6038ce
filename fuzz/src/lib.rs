//! Helpers shared by the fuzz targets: building segment bytes the way a sender
//! does, and a small, independent reference reader used as an oracle.
//!
//! The segment wire layout (see `crates/ledger/src/segment.rs`) is re-stated
//! here on purpose: the targets must be able to craft segments whose body
//! checksum is right (the fuzzer cannot find BLAKE3 preimages), and a second,
//! deliberately naive reading of the body tells what `Segment::decode` must
//! return.

use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHash, Entry, SEGMENT_MAGIC};

/// Valid tenant codes the targets pick from (the fuzzer rarely finds a valid
/// check digit on its own).
pub const TENANTS: [&str; 4] = ["131016", "011002", "472018", "130001"];

pub fn tenant(selector: u8) -> TenantCode {
    let code = TENANTS[usize::from(selector) % TENANTS.len()];
    TenantCode::parse(code).unwrap_or_else(|e| panic!("fixture tenant {code}: {e}"))
}

/// Header fields of a segment, written verbatim by [`assemble`].
#[derive(Clone, Debug)]
pub struct RawHeader {
    pub tenant: [u8; 6],
    pub first_seq: u64,
    pub last_seq: u64,
    pub prev_hash: [u8; 32],
    pub last_hash: [u8; 32],
}

/// Segment bytes with a correct `body_len` and body checksum for `body`
/// (already compressed, or not: it is written as given).
pub fn assemble(h: &RawHeader, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(134 + body.len());
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(&h.tenant);
    out.extend_from_slice(&h.first_seq.to_be_bytes());
    out.extend_from_slice(&h.last_seq.to_be_bytes());
    out.extend_from_slice(&h.prev_hash);
    out.extend_from_slice(&h.last_hash);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out.extend_from_slice(body);
    out
}

/// The entries a correct decoder must find in the uncompressed body `raw` of a
/// segment of `tenant` continuing after (`first_seq - 1`, `prev`), or `None`
/// when the body is malformed or does not chain (wrong tenant, a gap, a
/// sequence number past `u64::MAX`). Written independently of the crate's own
/// reader; uses only checked arithmetic.
pub fn reference_entries(
    raw: &[u8],
    tenant: &TenantCode,
    first_seq: u64,
    prev: ChainHash,
) -> Option<Vec<Entry>> {
    let mut rest = raw;
    let mut expected = Some(first_seq);
    let mut prev = prev;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if tail.len() < len {
            return None;
        }
        let (chunk, tail) = tail.split_at(len);
        let e = Entry::from_canonical_bytes(chunk, prev).ok()?;
        if e.owner != *tenant || Some(e.seq) != expected {
            return None;
        }
        expected = e.seq.checked_add(1);
        prev = e.hash;
        out.push(e);
        rest = tail;
    }
    Some(out)
}

/// The body stream `Segment::encode` compresses: `len:u32 canonical bytes`
/// per entry.
pub fn raw_body(entries: &[Entry]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        let bytes = e.canonical_bytes();
        body.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        body.extend_from_slice(&bytes);
    }
    body
}
