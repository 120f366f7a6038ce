//! 秘密分散 (secret-sharing dispersal) of one backup object over three sites.
//!
//! [`split`] turns an object into three [`Share`]s, one per site, such that
//! **any two** restore it ([`combine`]) and **any single one** — even together
//! with the backup passphrase and the object's `key_id` — reveals nothing
//! about the content but its length (computationally). Storage is about
//! **1.5×** the object, not the 3× of sharing the whole object with Shamir.
//!
//! # How (Krawczyk, "Secret Sharing Made Short", CRYPTO '93)
//!
//! 1. Draw a fresh random 256-bit key and a random 192-bit nonce from the
//!    operating system, and encrypt the object with XChaCha20-Poly1305. The
//!    associated data binds the format version, the 2-of-3 scheme, the object
//!    length and the caller's `key_id`, so a share cannot be relabelled as part
//!    of another object.
//! 2. Pad the ciphertext (object + 16-byte tag) to a multiple of 4, cut it into
//!    two data shards and compute one Reed–Solomon parity shard
//!    (`reed-solomon-simd`): shares 1 and 2 carry the halves, share 3 the
//!    parity, and any two shards give back the ciphertext.
//! 3. Shamir-share the 32-byte key 2-of-3 over GF(2⁸): each share carries one
//!    point, any two interpolate the key, one alone is uniformly random.
//! 4. Each share carries its format version, index, the scheme, the object
//!    length, the nonce, the `key_id`, its key share, its shard, and a BLAKE3
//!    hash over all of that — Reed–Solomon by itself detects no corruption.
//!
//! The wire format is given byte by byte in `docs/design/dispersal.md` beside this crate.
//!
//! # Threat model
//!
//! * **One site is read by an attacker** (a stolen disk, a curious provider, a
//!   subpoena), who also knows the backup passphrase and the `key_id`: it sees
//!   a uniformly random key share (Shamir with threshold 2 is perfectly hiding)
//!   and half of, or a parity over, a ciphertext under a key it cannot
//!   reconstruct. The object key is fresh randomness, never derived from the
//!   passphrase, so the passphrase does not help. What it does learn: the
//!   object's length, its `key_id` (callers should use ids that reveal nothing,
//!   e.g. a keyed hash), and which shares at other sites belong to the same
//!   object (same nonce).
//! * **One site is lost or its share damaged**: the other two restore. Accidental
//!   damage (bit rot, a truncated upload) fails the share's own hash and
//!   `combine` skips that share and says which one it was.
//! * **One site alters its share and recomputes the hash**: the hash cannot
//!   catch that (it is unkeyed on purpose, so every site can check its own
//!   shares without secrets), but the AEAD tag does — a wrong key share or a
//!   wrong shard makes decryption fail. With all three shares `combine` then
//!   tries the other pairs and names the altered one; with only two it refuses.
//!   **Unauthenticated plaintext is never returned.**
//! * **Two sites collude**: they can restore the object. That is the threshold,
//!   by design.
//!
//! # What it deliberately does not do
//!
//! * No networking and no storage: it turns bytes into bytes. Sending shares
//!   to `dispersed:URL1,URL2,URL3` sites is the backup crate's job.
//! * No passphrase or repository-key handling, no compression, deduplication or
//!   chunking — all in the backup crate, which disperses chunks it has already
//!   compressed and sealed with the repository key (so a dispersed chunk is
//!   encrypted twice: the inner layer is what still protects the content from
//!   two colluding sites that lack the passphrase).
//! * No streaming: an object is held in memory; callers disperse chunks
//!   (default 8 MiB), not whole databases.
//! * No hiding of object lengths, no thresholds other than 2-of-3 (the format
//!   has the fields; this build refuses other values).
//! * No re-sharing with new randomness: a lost or damaged share is rebuilt by
//!   [`rebuild`] as the very bytes the original split gave its site (from any
//!   two that authenticate), so repairing a site changes nothing at the other
//!   two. Which sites to read and write is the backup crate's job.
//!
//! # Why a small GF(2⁸) Shamir here rather than a crate
//!
//! `vsss-rs` is built around elliptic-curve scalar fields and brings their
//! dependency tree and API churn for what is, for 2-of-3 over bytes, a line of
//! arithmetic; `sharks` is unmaintained and `blahaj` (its fork) multiplies with
//! log/exp tables — memory accesses indexed by secret bytes — and fixes its
//! own share encoding and RNG version. The whole scheme here is `y = s ⊕ a·x`
//! per key byte: the module `gf256` is ~100 lines with a branch-free,
//! table-free multiplication that is checked against an independent reference
//! for all 65,536 products, inverses checked for all 255 non-zero elements,
//! and perfect hiding of one share checked exhaustively. Reed–Solomon and the
//! AEAD, where the real complexity is, come from maintained crates.
//!
//! # Example
//!
//! ```
//! use murakumo_dispersal::{Share, combine, split, verify_share};
//!
//! let chunk = b"zstd-compressed ledger segment ...".to_vec();
//! let [s1, s2, s3] = split(&chunk, b"chunk/7f3a")?;
//! // Each site stores one `to_bytes()`; site 2 is lost.
//! let (b1, b3) = (s1.to_bytes(), s3.to_bytes());
//! let (r1, r3) = (Share::from_bytes(&b1)?, Share::from_bytes(&b3)?);
//! verify_share(&r1)?;
//! assert_eq!(combine(&[r3, r1])?, chunk);
//! # drop(s2);
//! # Ok::<(), murakumo_dispersal::DispersalError>(())
//! ```

mod error;
mod gf256;
mod rebuild;
mod share;

use core::fmt;

use chacha20poly1305::aead::{AeadInOut, Generate, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

pub use error::DispersalError;
pub use rebuild::{Rebuilt, rebuild};
pub use share::{
    FORMAT_VERSION, MAGIC, MAX_KEY_ID_LEN, SHARE_OVERHEAD, Share, THRESHOLD, TOTAL, shard_len,
    share_len,
};

use share::{NONCE_LEN, TAG_LEN, describe_key_id};

/// Domain-separation prefix of the AEAD associated data.
const AAD_PREFIX: &[u8] = b"murakumo-dispersal aad\0";

/// Split `secret_object` into three shares; any two restore it with
/// [`combine`]. `key_id` names the object (a chunk id, say): it is stored in
/// every share in the clear and bound to the ciphertext, so shares of
/// different objects cannot be combined. Every call uses a fresh key and
/// nonce, so splitting the same object twice gives unrelated shares.
pub fn split(secret_object: &[u8], key_id: &[u8]) -> Result<[Share; 3], DispersalError> {
    if key_id.len() > MAX_KEY_ID_LEN {
        return Err(DispersalError::KeyIdTooLong {
            len: key_id.len(),
            max: MAX_KEY_ID_LEN,
        });
    }
    let object_len = secret_object.len() as u64;
    let too_large = DispersalError::ObjectTooLarge { len: object_len };
    let shard = shard_len(object_len)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| too_large.clone())?;
    let padded = shard.checked_mul(2).ok_or_else(|| too_large.clone())?;

    let randomness = |e: chacha20poly1305::aead::common::getrandom::Error| {
        DispersalError::Randomness(e.to_string())
    };
    let key = Zeroizing::new(<[u8; gf256::SECRET_LEN]>::try_generate().map_err(randomness)?);
    let mut coefficients =
        Zeroizing::new([<[u8; gf256::SECRET_LEN]>::try_generate().map_err(randomness)?]);
    let nonce = <[u8; NONCE_LEN]>::try_generate().map_err(randomness)?;

    // Encrypt in place into a buffer already sized for both padded shards.
    let mut data = Vec::with_capacity(padded);
    data.extend_from_slice(secret_object);
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let tag = cipher
        .encrypt_inout_detached(
            &XNonce::from(nonce),
            &associated_data(object_len, key_id),
            data.as_mut_slice().into(),
        )
        .map_err(|_| too_large)?;
    drop(cipher);
    data.extend_from_slice(&tag);
    data.resize(padded, 0);

    let parity = reed_solomon_simd::encode(2, 1, [&data[..shard], &data[shard..]])
        .map_err(|e| DispersalError::Erasure {
            key_id: describe_key_id(key_id),
            detail: e.to_string(),
        })?
        .pop()
        .ok_or_else(|| DispersalError::Erasure {
            key_id: describe_key_id(key_id),
            detail: "no recovery shard returned".to_owned(),
        })?;
    let second = data.split_off(shard);
    let first = data;

    let key_shares = gf256::split(&key, &coefficients[..], &[1, 2, 3]);
    gf256::wipe(&mut coefficients[..]);

    let make = |index: u8, shard: Vec<u8>| {
        let mut s = Share {
            index,
            object_len,
            nonce,
            key_id: key_id.to_vec(),
            key_share: key_shares[usize::from(index) - 1],
            shard,
            hash: [0; 32],
        };
        s.hash = s.compute_hash();
        s
    };
    Ok([make(1, first), make(2, second), make(3, parity)])
}

/// Any 2 (or 3) shares of the same object; corrupted shares (hash mismatch) are skipped if 2 good ones remain; says which share was bad.
///
/// Shares may come in any order and more than once. For which shares were
/// used and which were rejected, see [`combine_with_report`].
pub fn combine(shares: &[Share]) -> Result<Vec<u8>, DispersalError> {
    combine_with_report(shares).map(|restored| restored.object)
}

/// Check a share's own BLAKE3 hash: what a site (or `murakumo verify`) can do
/// on its own, without any secret. It does not prove the share will decrypt —
/// only [`combine`] can, with a second share.
pub fn verify_share(share: &Share) -> Result<(), DispersalError> {
    if share.is_intact() {
        Ok(())
    } else {
        Err(DispersalError::Corrupted {
            index: share.index,
            key_id: share.describe_object(),
        })
    }
}

/// A restored object and how it was restored.
#[derive(Clone, PartialEq, Eq)]
pub struct Restored {
    /// The original object.
    pub object: Vec<u8>,
    /// The indices of the two shares it was restored from.
    pub used: [u8; 2],
    /// Shares that were given but could not be used, and why.
    pub rejected: Vec<Rejected>,
}

impl fmt::Debug for Restored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restored")
            .field("object_len", &self.object.len())
            .field("used", &self.used)
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// A share that [`combine_with_report`] skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Its index (as labelled).
    pub index: u8,
    /// Why.
    pub reason: Rejection,
}

/// Why a share was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Its BLAKE3 hash does not match its contents (accidental damage).
    Corrupted,
    /// Its hash is intact but it does not decrypt with the others, while the
    /// other two do: it was altered and re-hashed.
    NotAuthentic,
    /// Intact, but of another split of the same object than the two that
    /// restore it: left by an interrupted write (only [`rebuild`] says this;
    /// [`combine`] refuses shares of two splits given together).
    OtherSplit,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            Rejection::Corrupted => write!(f, "share {} is corrupted (hash mismatch)", self.index),
            Rejection::NotAuthentic => write!(
                f,
                "share {} has an intact hash but does not authenticate (altered and re-hashed)",
                self.index
            ),
            Rejection::OtherSplit => write!(
                f,
                "share {} is intact but belongs to another split of this object (left by an \
                 interrupted write)",
                self.index
            ),
        }
    }
}

/// [`combine`], also telling which shares were used and which were skipped
/// (so the caller can log it; [`rebuild`] also gives the shares to write back).
pub fn combine_with_report(shares: &[Share]) -> Result<Restored, DispersalError> {
    let (intact, corrupted): (Vec<&Share>, Vec<&Share>) =
        shares.iter().partition(|s| s.is_intact());

    if let Some(first) = intact.first() {
        if intact.iter().any(|s| !s.same_object(first)) {
            return Err(DispersalError::MixedObjects {
                detail: describe_objects(&intact),
            });
        }
    }

    // One intact share per index; exact duplicates are harmless.
    let mut by_index: [Option<&Share>; 3] = [None; 3];
    for s in &intact {
        let slot = &mut by_index[usize::from(s.index) - 1];
        match slot {
            None => *slot = Some(s),
            Some(prev) if *prev == *s => {}
            Some(_) => {
                return Err(DispersalError::ConflictingShares {
                    index: s.index,
                    key_id: s.describe_object(),
                });
            }
        }
    }
    // As labelled: a damaged index byte may even name an intact share's index.
    let mut corrupted_indices: Vec<u8> = corrupted.iter().map(|s| s.index).collect();
    corrupted_indices.sort_unstable();
    corrupted_indices.dedup();
    let is_intact = |i: &u8| by_index[usize::from(*i) - 1].is_some();
    let only_corrupted: Vec<u8> = corrupted_indices
        .iter()
        .copied()
        .filter(|i| !is_intact(i))
        .collect();
    let missing: Vec<u8> = (1..=TOTAL)
        .filter(|i| !is_intact(i) && !only_corrupted.contains(i))
        .collect();
    let available: Vec<&Share> = by_index.iter().flatten().copied().collect();

    let key_id = match (intact.first(), corrupted.first()) {
        (Some(s), _) => s.describe_object(),
        (None, Some(s)) => format!("{} (as labelled by a damaged share)", s.describe_object()),
        (None, None) => "(unknown: no shares were given)".to_owned(),
    };
    let status = describe_status(&only_corrupted, &missing);

    if available.len() < usize::from(THRESHOLD) {
        return Err(DispersalError::NotEnoughShares {
            key_id,
            intact: available.len(),
            detail: status,
        });
    }

    let mut failed_pairs: Vec<[u8; 2]> = Vec::new();
    for (i, a) in available.iter().enumerate() {
        for b in &available[i + 1..] {
            let others: Vec<&Share> = available
                .iter()
                .copied()
                .filter(|s| s.index != a.index && s.index != b.index)
                .collect();
            match restore_pair(a, b, &others)? {
                Some(PairRestored {
                    object,
                    inconsistent,
                }) => {
                    let used = [a.index, b.index];
                    let mut rejected: Vec<Rejected> = corrupted_indices
                        .iter()
                        .map(|&index| Rejected {
                            index,
                            reason: Rejection::Corrupted,
                        })
                        .collect();
                    // A share is bad if it was in a pair that failed, or does
                    // not match what the authenticated pair implies.
                    let mut altered: Vec<u8> = failed_pairs
                        .iter()
                        .flatten()
                        .copied()
                        .filter(|i| !used.contains(i))
                        .chain(inconsistent)
                        .collect();
                    altered.sort_unstable();
                    altered.dedup();
                    rejected.extend(altered.into_iter().map(|index| Rejected {
                        index,
                        reason: Rejection::NotAuthentic,
                    }));
                    rejected.sort_by_key(|r| r.index);
                    return Ok(Restored {
                        object,
                        used,
                        rejected,
                    });
                }
                None => failed_pairs.push([a.index, b.index]),
            }
        }
    }

    let indices: Vec<u8> = available.iter().map(|s| s.index).collect();
    let detail = if indices.len() == 2 {
        format!(
            "shares {} and {} pass their hash checks but do not decrypt together, and there is no \
             third intact share to tell which of them is bad ({status})",
            indices[0], indices[1]
        )
    } else {
        "no pair of shares 1, 2 and 3 decrypts although all three pass their hash checks, so at \
         least two of them are bad"
            .to_owned()
    };
    Err(DispersalError::AuthenticationFailed { key_id, detail })
}

/// What [`restore_pair`] got from an authenticated pair.
struct PairRestored {
    object: Vec<u8>,
    /// Indices of other intact shares that disagree with the pair.
    inconsistent: Vec<u8>,
}

/// Restore from two intact shares of one object with distinct indices.
/// `Ok(None)`: they do not authenticate together. On success, also returns
/// the indices of those `others` (intact shares of the same object) whose key
/// share or shard differ from what the authenticated pair implies.
fn restore_pair(
    a: &Share,
    b: &Share,
    others: &[&Share],
) -> Result<Option<PairRestored>, DispersalError> {
    let (a, b) = if a.index < b.index { (a, b) } else { (b, a) };
    let points = [(a.index, &a.key_share), (b.index, &b.key_share)];
    let Ok(key) = gf256::combine(&points) else {
        return Ok(None);
    };
    let shard = a.shard.len();
    let erasure = |detail: String| DispersalError::Erasure {
        key_id: a.describe_object(),
        detail,
    };
    let Some(mut data) = padded_ciphertext(a, b)? else {
        return Ok(None);
    };

    let Ok(len) = usize::try_from(a.object_len) else {
        return Ok(None);
    };
    let ciphertext_len = len + TAG_LEN;
    if data.len() < ciphertext_len || data[ciphertext_len..].iter().any(|&p| p != 0) {
        // Padding must be zero: anything else is a damaged or forged shard.
        return Ok(None);
    }

    // Audit the shares not used, while `data` still holds the ciphertext
    // (only meaningful if the pair authenticates, checked below).
    let mut inconsistent = Vec::new();
    for c in others {
        let expected_key_share =
            gf256::interpolate(&points, c.index).map_err(|e| erasure(format!("{e:?}")))?;
        let shard_matches = match c.index {
            1 => c.shard == data[..shard],
            2 => c.shard == data[shard..],
            _ => reed_solomon_simd::encode(2, 1, [&data[..shard], &data[shard..]])
                .map_err(|e| erasure(e.to_string()))?
                .first()
                .is_some_and(|parity| *parity == c.shard),
        };
        if *expected_key_share != c.key_share || !shard_matches {
            inconsistent.push(c.index);
        }
    }

    let tag =
        Tag::try_from(&data[len..ciphertext_len]).map_err(|_| erasure("tag length".to_owned()))?;
    data.truncate(len);
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let authentic = cipher
        .decrypt_inout_detached(
            &XNonce::from(a.nonce),
            &associated_data(a.object_len, &a.key_id),
            data.as_mut_slice().into(),
            &tag,
        )
        .is_ok();
    Ok(authentic.then_some(PairRestored {
        object: data,
        inconsistent,
    }))
}

/// The padded ciphertext `P` (both data shards) from two intact shares of
/// one object with distinct indices: a concatenation for shares 1 and 2, one
/// data shard rebuilt from the parity otherwise. `Ok(None)` if the pair
/// cannot give it (same index, shards of different lengths). Not
/// authenticated: the caller decrypts (or has decrypted) to know it is right.
fn padded_ciphertext(a: &Share, b: &Share) -> Result<Option<Vec<u8>>, DispersalError> {
    let (a, b) = if a.index < b.index { (a, b) } else { (b, a) };
    let shard = a.shard.len();
    if b.shard.len() != shard {
        return Ok(None);
    }
    let erasure = |detail: String| DispersalError::Erasure {
        key_id: a.describe_object(),
        detail,
    };
    let mut data = Vec::with_capacity(2 * shard);
    match (a.index, b.index) {
        (1, 2) => {
            data.extend_from_slice(&a.shard);
            data.extend_from_slice(&b.shard);
        }
        (1, 3) | (2, 3) => {
            let (known, lost) = if a.index == 1 { (0, 1) } else { (1, 0) };
            let mut restored = reed_solomon_simd::decode(
                2,
                1,
                [(known, a.shard.as_slice())],
                [(0, b.shard.as_slice())],
            )
            .map_err(|e| erasure(e.to_string()))?;
            let lost_shard = restored
                .remove(&lost)
                .ok_or_else(|| erasure("the lost data shard was not restored".to_owned()))?;
            if known == 0 {
                data.extend_from_slice(&a.shard);
                data.extend_from_slice(&lost_shard);
            } else {
                data.extend_from_slice(&lost_shard);
                data.extend_from_slice(&a.shard);
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(data))
}

/// The AEAD associated data: everything about the object except its bytes.
fn associated_data(object_len: u64, key_id: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + 3 + 8 + 2 + key_id.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(&[FORMAT_VERSION, THRESHOLD, TOTAL]);
    aad.extend_from_slice(&object_len.to_le_bytes());
    aad.extend_from_slice(
        &u16::try_from(key_id.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    aad.extend_from_slice(key_id);
    aad
}

/// "share 2 is corrupted, share 3 missing".
fn describe_status(corrupted: &[u8], missing: &[u8]) -> String {
    let mut parts = Vec::new();
    match corrupted {
        [] => {}
        [one] => parts.push(format!("share {one} is corrupted")),
        many => parts.push(format!("shares {} are corrupted", list(many))),
    }
    match missing {
        [] => {}
        [one] => parts.push(format!("share {one} missing")),
        many => parts.push(format!("shares {} missing", list(many))),
    }
    if parts.is_empty() {
        "all shares present".to_owned()
    } else {
        parts.join(", ")
    }
}

/// "1", "1 and 2", "1, 2 and 3".
fn list(indices: &[u8]) -> String {
    match indices.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => {
            let head: Vec<String> = rest.iter().map(u8::to_string).collect();
            format!("{} and {last}", head.join(", "))
        }
    }
}

/// "share 1 is of object "a" (10 bytes, nonce 1a2b…), share 2 is of …".
fn describe_objects(shares: &[&Share]) -> String {
    shares
        .iter()
        .map(|s| {
            format!(
                "share {} is of object {} ({} bytes, nonce {:02x}{:02x}{:02x}{:02x}…)",
                s.index,
                s.describe_object(),
                s.object_len,
                s.nonce[0],
                s.nonce[1],
                s.nonce[2],
                s.nonce[3]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
