//! The tenant ledger: append-only, hash-chained entries, their canonical
//! encoding, chain verification and segments.
//!
//! Every municipality (tenant) has its own chains. An [`Entry`] carries a
//! sequence number (gap-free, starting at 1), the hash of the previous entry,
//! an event kind and schema version, the effective date (異動日) and the
//! recording time, the actor, and an opaque payload. Its hash is BLAKE3 over
//! the previous hash and the canonical bytes of everything else (see
//! `docs/design/ledger-format.md`).
//!
//! This crate does **no I/O** and knows **no business domain**: domain crates
//! define their own event types (see [`EventCodec`]) and hand the ledger bytes.
//! Storage lives in `murakumo-store`; shipping segments lives in the backup and
//! replication crates.

mod entry;
mod event;
mod owner;
mod segment;
mod verify;

pub use entry::{ChainHash, Entry, EntryDecodeError, NewEntry, RecordedAt};
pub use event::{EventCodec, EventDecodeError, decode_enum, decode_payload, encode_payload};
pub use owner::LedgerOwner;
pub use segment::{SEGMENT_MAGIC, Segment, SegmentError, SegmentHeader, cut_segments};
pub use verify::{ChainBreak, ChainHead, ChainVerifier, verify_chain};
