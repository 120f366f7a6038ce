//! [`DispersalError`]: what went wrong, and what the operator can do about it.

/// Everything that can go wrong while splitting, parsing, verifying or
/// combining shares. Messages name the object (by `key_id`) and the share
/// index, and say what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispersalError {
    /// `from_bytes`: the input ends before the share does.
    #[error(
        "share is truncated: its {field} needs {needed} bytes at offset {offset}, but the input \
         has only {available} bytes — the share file was cut short (interrupted upload or \
         download?); fetch it again from its site"
    )]
    Truncated {
        /// The wire-format field that did not fit.
        field: &'static str,
        /// Where that field starts.
        offset: usize,
        /// Bytes that field needs (may be absurd if the length fields are damaged).
        needed: u64,
        /// Total input length.
        available: usize,
    },

    /// `from_bytes`: the input does not start with the share magic.
    #[error(
        "not a Murakumo dispersal share: it starts with {found:02x?}, not \"MKDS\" — wrong file, \
         or the start of the share is damaged"
    )]
    BadMagic {
        /// The first (up to) four bytes found.
        found: Vec<u8>,
    },

    /// `from_bytes`: a format version this build does not know.
    #[error(
        "share format version {found} is not supported by this build (it reads version \
         {supported}); restore with the Murakumo release that wrote it, or a newer one"
    )]
    UnsupportedVersion {
        /// Version byte found.
        found: u8,
        /// Version this build reads and writes.
        supported: u8,
    },

    /// `from_bytes`: a threshold/total other than 2-of-3.
    #[error(
        "share declares a {threshold}-of-{total} scheme; this build only handles 2-of-3 — the \
         header is damaged or the share was written by another tool"
    )]
    UnsupportedScheme {
        /// Threshold byte found.
        threshold: u8,
        /// Total byte found.
        total: u8,
    },

    /// `from_bytes`: share index outside 1..=3.
    #[error("share index {index} is out of range (must be 1, 2 or 3): the share header is damaged")]
    BadIndex {
        /// Index byte found.
        index: u8,
    },

    /// `from_bytes`: the declared shard length disagrees with the object length.
    #[error(
        "share {index}: its shard length field says {found} bytes, but an object of {object_len} \
         bytes has {expected}-byte shards — the share header is damaged"
    )]
    ShardLengthMismatch {
        /// Share index.
        index: u8,
        /// Object length from the header.
        object_len: u64,
        /// Shard length the object length implies.
        expected: u64,
        /// Shard length field found.
        found: u64,
    },

    /// `from_bytes`: bytes after the end of the share.
    #[error(
        "share {index} is followed by {trailing} unexpected bytes — two shares concatenated, or \
         the share was appended to; fetch it again from its site"
    )]
    TrailingBytes {
        /// Share index.
        index: u8,
        /// Number of extra bytes.
        trailing: usize,
    },

    /// `split`: `key_id` longer than the format allows.
    #[error("key_id is {len} bytes long; a share can carry at most {max}")]
    KeyIdTooLong {
        /// Length given.
        len: usize,
        /// Maximum.
        max: usize,
    },

    /// `split`: the object is too large for the cipher or the format.
    #[error(
        "object of {len} bytes is too large to disperse in one piece; split it into chunks first"
    )]
    ObjectTooLarge {
        /// Length given.
        len: u64,
    },

    /// `split`: the operating system's random number generator failed.
    #[error("the system random number generator failed ({0}); nothing was written — retry")]
    Randomness(String),

    /// Reed–Solomon coding failed (a bug: shard sizes are computed here).
    #[error(
        "Reed–Solomon coding of object {key_id} failed: {detail} (this is a bug in murakumo-dispersal)"
    )]
    Erasure {
        /// Which object.
        key_id: String,
        /// The coding library's message.
        detail: String,
    },

    /// `verify_share`: the share's BLAKE3 hash does not match its contents.
    #[error(
        "share {index} of object {key_id} is corrupted: its BLAKE3 hash does not match its \
         contents — discard it and rebuild it from the other two sites (`murakumo verify \
         --repair` does)"
    )]
    Corrupted {
        /// Share index (as labelled in the possibly damaged header).
        index: u8,
        /// Object key_id (as labelled in the possibly damaged header).
        key_id: String,
    },

    /// `combine`: fewer than two intact, distinct shares.
    #[error(
        "only {intact} intact share{plural} of object {key_id} ({detail}): at least 2 of the 3 \
         sites are needed to restore",
        plural = if *intact == 1 { "" } else { "s" }
    )]
    NotEnoughShares {
        /// Object key_id, or `(unknown)` when no share was given.
        key_id: String,
        /// Number of distinct intact shares.
        intact: usize,
        /// Per-share status, e.g. "share 2 is corrupted, share 3 missing".
        detail: String,
    },

    /// `combine`: intact shares of different objects were passed together.
    #[error(
        "the shares belong to different objects ({detail}): pass only shares produced by one \
         split() of one object"
    )]
    MixedObjects {
        /// Which share belongs to which object.
        detail: String,
    },

    /// `combine`: two intact shares claim the same index but differ.
    #[error(
        "two different shares both claim to be share {index} of object {key_id}: one was \
         rewritten after dispersal (tampering, or a faulty writer); pass each site's share once"
    )]
    ConflictingShares {
        /// The contested index.
        index: u8,
        /// Object key_id.
        key_id: String,
    },

    /// `combine`: shares with intact hashes that together do not decrypt.
    #[error(
        "object {key_id} could not be restored: {detail}. Shares whose hashes check out but do \
         not authenticate were altered and re-hashed (tampering) or written by a faulty encoder"
    )]
    AuthenticationFailed {
        /// Object key_id.
        key_id: String,
        /// Which pairs were tried, and what else is known.
        detail: String,
    },
}
