//! The [`Share`] type and its wire format (see `docs/design/dispersal.md`, "Wire format").

use core::fmt;

use crate::DispersalError;
use crate::gf256::SECRET_LEN;

/// First four bytes of every share.
pub const MAGIC: [u8; 4] = *b"MKDS";
/// The share format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Shares needed to restore an object.
pub const THRESHOLD: u8 = 2;
/// Shares made of every object (one per site).
pub const TOTAL: u8 = 3;
/// Longest `key_id` a share can carry (its length is a `u16`).
pub const MAX_KEY_ID_LEN: usize = u16::MAX as usize;
/// XChaCha20-Poly1305 nonce length.
pub(crate) const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;
/// BLAKE3 output length.
const HASH_LEN: usize = 32;
/// BLAKE3 `derive_key` context for the share hash (domain separation).
const HASH_CONTEXT: &str = "murakumo-dispersal 2025-01 share hash v1";

/// Bytes of a share that are not its shard or its key_id:
/// magic 4 + version 1 + index 1 + threshold 1 + total 1 + object length 8
/// + nonce 24 + key_id length 2 + key share 32 + shard length 8 + hash 32.
pub const SHARE_OVERHEAD: usize = 4 + 1 + 1 + 1 + 1 + 8 + NONCE_LEN + 2 + SECRET_LEN + 8 + HASH_LEN;

/// Length of each Reed–Solomon shard for an object of `object_len` bytes:
/// the ciphertext (object + 16-byte tag) zero-padded to a multiple of 4 and
/// halved (the coder needs even, non-empty shards). `None` on overflow.
pub fn shard_len(object_len: u64) -> Option<u64> {
    let ciphertext = object_len.checked_add(TAG_LEN as u64)?;
    Some(ciphertext.div_ceil(4) * 2)
}

/// Encoded length of one share of an object of `object_len` bytes with a
/// `key_id` of `key_id_len` bytes. `None` on overflow.
pub fn share_len(object_len: u64, key_id_len: usize) -> Option<u64> {
    shard_len(object_len)?.checked_add(u64::try_from(SHARE_OVERHEAD + key_id_len).ok()?)
}

/// One of the three shares of an object: what one site stores.
///
/// Built by [`crate::split`] or parsed by [`Share::from_bytes`]. Parsing
/// checks the structure only; whether the contents are intact is checked by
/// [`crate::verify_share`] and [`crate::combine`], so a damaged share can
/// still be handed to `combine`, which skips it and says so.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    pub(crate) index: u8,
    pub(crate) object_len: u64,
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) key_id: Vec<u8>,
    pub(crate) key_share: [u8; SECRET_LEN],
    pub(crate) shard: Vec<u8>,
    /// The hash as stored (for a parsed share: as read, not recomputed).
    pub(crate) hash: [u8; HASH_LEN],
}

impl Share {
    /// The share's index, 1..=3: which site it belongs to.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The caller's identifier of the object, as given to [`crate::split`].
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// Length of the original (plaintext) object in bytes.
    pub fn object_len(&self) -> u64 {
        self.object_len
    }

    /// The share in its wire format (see `docs/design/dispersal.md`). The stored hash is
    /// written as it is, so a damaged share stays detectably damaged.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHARE_OVERHEAD + self.key_id.len() + self.shard.len());
        self.write_body(|part| out.extend_from_slice(part));
        out.extend_from_slice(&self.hash);
        out
    }

    /// Parse a share. Never panics; rejects anything that is not exactly one
    /// well-formed version-1 share. Does **not** check the hash — use
    /// [`crate::verify_share`], or let [`crate::combine`] do it.
    pub fn from_bytes(b: &[u8]) -> Result<Share, DispersalError> {
        let mut r = Reader { bytes: b, pos: 0 };
        let magic = r.take("magic", 4)?;
        if magic != MAGIC {
            return Err(DispersalError::BadMagic {
                found: magic.to_vec(),
            });
        }
        let version = r.u8("format version")?;
        if version != FORMAT_VERSION {
            return Err(DispersalError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let index = r.u8("share index")?;
        let threshold = r.u8("threshold")?;
        let total = r.u8("total")?;
        if (threshold, total) != (THRESHOLD, TOTAL) {
            return Err(DispersalError::UnsupportedScheme { threshold, total });
        }
        if !(1..=TOTAL).contains(&index) {
            return Err(DispersalError::BadIndex { index });
        }
        let object_len = r.u64("object length")?;
        let nonce = r.array::<NONCE_LEN>("nonce")?;
        let key_id_len = r.u16("key_id length")?;
        let key_id = r.take("key_id", u64::from(key_id_len))?.to_vec();
        let key_share = r.array::<SECRET_LEN>("key share")?;
        let declared_shard_len = r.u64("shard length")?;
        let expected = shard_len(object_len);
        if expected != Some(declared_shard_len) {
            return Err(DispersalError::ShardLengthMismatch {
                index,
                object_len,
                expected: expected.unwrap_or(u64::MAX),
                found: declared_shard_len,
            });
        }
        let shard = r.take("shard", declared_shard_len)?.to_vec();
        let hash = r.array::<HASH_LEN>("hash")?;
        let trailing = b.len() - r.pos;
        if trailing != 0 {
            return Err(DispersalError::TrailingBytes { index, trailing });
        }
        Ok(Share {
            index,
            object_len,
            nonce,
            key_id,
            key_share,
            shard,
            hash,
        })
    }

    /// Feed every byte of the wire format before the hash to `sink`, in order.
    fn write_body(&self, mut sink: impl FnMut(&[u8])) {
        sink(&MAGIC);
        sink(&[FORMAT_VERSION, self.index, THRESHOLD, TOTAL]);
        sink(&self.object_len.to_le_bytes());
        sink(&self.nonce);
        let key_id_len = u16::try_from(self.key_id.len()).unwrap_or(u16::MAX);
        sink(&key_id_len.to_le_bytes());
        sink(&self.key_id);
        sink(&self.key_share);
        sink(&(self.shard.len() as u64).to_le_bytes());
        sink(&self.shard);
    }

    /// BLAKE3 (derive_key mode) over the body, as it should be stored.
    pub(crate) fn compute_hash(&self) -> [u8; HASH_LEN] {
        let mut hasher = blake3::Hasher::new_derive_key(HASH_CONTEXT);
        self.write_body(|part| {
            hasher.update(part);
        });
        *hasher.finalize().as_bytes()
    }

    /// Whether the stored hash matches the contents (constant-time compare).
    pub(crate) fn is_intact(&self) -> bool {
        blake3::Hash::from_bytes(self.compute_hash()) == blake3::Hash::from_bytes(self.hash)
    }

    /// Same object as `other`: same length, nonce and key_id.
    pub(crate) fn same_object(&self, other: &Share) -> bool {
        self.object_len == other.object_len
            && self.nonce == other.nonce
            && self.key_id == other.key_id
    }

    /// The object's key_id for messages.
    pub(crate) fn describe_object(&self) -> String {
        describe_key_id(&self.key_id)
    }
}

impl fmt::Debug for Share {
    /// Shows identifying metadata only, never key-share or shard bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .field("key_id", &describe_key_id(&self.key_id))
            .field("object_len", &self.object_len)
            .field("shard_len", &self.shard.len())
            .field("hash", &hex_prefix(&self.hash, 8))
            .finish_non_exhaustive()
    }
}

/// `key_id` for humans: quoted if it is short printable UTF-8, else hex.
pub(crate) fn describe_key_id(key_id: &[u8]) -> String {
    match core::str::from_utf8(key_id) {
        Ok(s) if s.chars().count() <= 96 && !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => format!("0x{}", hex_prefix(key_id, 48)),
    }
}

fn hex_prefix(bytes: &[u8], max: usize) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(2 * bytes.len().min(max) + 3);
    for b in bytes.iter().take(max) {
        let _ = write!(s, "{b:02x}");
    }
    if bytes.len() > max {
        s.push('…');
    }
    s
}

/// Bounds-checked little-endian cursor; every failure is `Truncated`.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, len: u64) -> Result<&'a [u8], DispersalError> {
        let remaining = self.bytes.len() - self.pos;
        let truncated = DispersalError::Truncated {
            field,
            offset: self.pos,
            needed: len,
            available: self.bytes.len(),
        };
        let len = usize::try_from(len).map_err(|_| truncated.clone())?;
        if len > remaining {
            return Err(truncated);
        }
        let out = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DispersalError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N as u64)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DispersalError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DispersalError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DispersalError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
}
