//! Keys and sealed objects.
//!
//! - The repository's master key (64 random bytes: 32 for XChaCha20-Poly1305,
//!   32 for BLAKE3-keyed object ids) never leaves memory unwrapped; the
//!   `config` object holds it wrapped by a key-encryption key derived from the
//!   passphrase (argon2id) or a key file (BLAKE3 `derive_key`).
//! - Every object is `MKBOBJ01 ‖ nonce[24] ‖ XChaCha20-Poly1305(plaintext)`
//!   with the object's name (which contains its id) as associated data, so an
//!   object moved to another name fails to open.
//! - Content objects use a nonce derived from their id (deterministic, SIV
//!   style: the same plaintext gives the same bytes, so an interrupted upload
//!   can be resumed byte for byte); other objects use a random nonce.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

pub const OBJECT_MAGIC: &[u8; 8] = b"MKBOBJ01";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes an object grows by when sealed.
pub const SEAL_OVERHEAD: usize = OBJECT_MAGIC.len() + NONCE_LEN + TAG_LEN;

/// How a repository is unlocked.
#[derive(Clone)]
pub enum KeySource {
    Passphrase(Zeroizing<String>),
    /// The contents of a key file (at least 32 bytes, ideally random).
    KeyFile(Zeroizing<Vec<u8>>),
}

impl KeySource {
    pub fn kind(&self) -> &'static str {
        match self {
            KeySource::Passphrase(_) => "passphrase",
            KeySource::KeyFile(_) => "key file",
        }
    }

    /// Reads the key from `--key-file` if given, else from
    /// `MURAKUMO_BACKUP_PASSPHRASE`.
    pub fn from_env_or_file(key_file: Option<&std::path::Path>) -> crate::Result<KeySource> {
        if let Some(path) = key_file {
            let bytes = std::fs::read(path).map_err(|e| crate::BackupError::KeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if bytes.len() < 32 {
                return Err(crate::BackupError::KeyFile {
                    path: path.display().to_string(),
                    reason: format!(
                        "it holds {} bytes; a key file needs at least 32 random bytes \
                         (make one with `head -c 64 /dev/urandom > FILE` and keep a copy off-site)",
                        bytes.len()
                    ),
                });
            }
            return Ok(KeySource::KeyFile(Zeroizing::new(bytes)));
        }
        match std::env::var("MURAKUMO_BACKUP_PASSPHRASE") {
            Ok(p) if !p.is_empty() => Ok(KeySource::Passphrase(Zeroizing::new(p))),
            _ => Err(crate::BackupError::NoKey),
        }
    }
}

/// Parameters of the argon2id derivation, stored in the repository config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes).
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };
}

/// Derives the key-encryption key for one wrapped copy of the master key.
pub fn derive_kek(
    source: &KeySource,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let mut out = Zeroizing::new([0u8; 32]);
    match source {
        KeySource::Passphrase(p) => {
            let params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
                .map_err(|e| format!("bad argon2 parameters: {e}"))?;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into(p.as_bytes(), salt, out.as_mut())
                .map_err(|e| format!("argon2id failed: {e}"))?;
        }
        KeySource::KeyFile(bytes) => {
            let mut h = blake3::Hasher::new_derive_key("murakumo 2026 backup key file v1");
            h.update(salt);
            h.update(bytes);
            *out = *h.finalize().as_bytes();
        }
    }
    Ok(out)
}

/// The unwrapped master key of a repository.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 64]>,
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        let mut bytes = Zeroizing::new([0u8; 64]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        MasterKey { bytes }
    }

    pub fn from_bytes(b: &[u8]) -> Option<MasterKey> {
        let arr: [u8; 64] = b.try_into().ok()?;
        Some(MasterKey {
            bytes: Zeroizing::new(arr),
        })
    }

    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.bytes
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.bytes[..32]);
        let c = XChaCha20Poly1305::new(&Key::from(k));
        k.zeroize();
        c
    }

    fn id_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.bytes[32..]);
        k
    }

    /// The content id of a plaintext: BLAKE3 keyed with the repository's id
    /// key, so ids reveal nothing about content to anyone without the key.
    pub fn object_id(&self, plaintext: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.id_key(), plaintext).as_bytes()
    }

    /// Seals a content object: nonce derived from its id (deterministic).
    pub fn seal_content(&self, name: &str, id: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        let mut h = blake3::Hasher::new_keyed(&self.id_key());
        h.update(b"nonce");
        h.update(id);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&h.finalize().as_bytes()[..NONCE_LEN]);
        self.seal_with(name, nonce, plaintext)
    }

    /// Seals an object with a random nonce.
    pub fn seal_random(&self, name: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        self.seal_with(name, nonce, plaintext)
    }

    fn seal_with(&self, name: &str, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let aad = object_aad(name);
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
        out.extend_from_slice(OBJECT_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a sealed object stored under `name`; says why it cannot.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(format!(
                "{} bytes long, shorter than any sealed object (truncated)",
                sealed.len()
            ));
        }
        if &sealed[..8] != OBJECT_MAGIC {
            return Err("bad magic: not a Murakumo backup object".into());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[8..8 + NONCE_LEN]);
        let aad = object_aad(name);
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[8 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| "authentication failed: its bytes were changed".to_string())
    }
}

fn object_aad(name: &str) -> Vec<u8> {
    let mut aad = b"murakumo backup object v1\0".to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Wraps (encrypts) the master key under a key-encryption key.
pub fn wrap(kek: &[u8; 32], aad: &[u8], master: &MasterKey) -> (Vec<u8>, Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = XChaCha20Poly1305::new(&Key::from(*kek))
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: master.as_bytes(),
                aad,
            },
        )
        .unwrap_or_default();
    (nonce.to_vec(), ct)
}

/// Unwraps the master key; `None` if the key-encryption key is wrong.
pub fn unwrap(kek: &[u8; 32], aad: &[u8], nonce: &[u8], wrapped: &[u8]) -> Option<MasterKey> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new(&Key::from(*kek))
            .decrypt(&XNonce::from(nonce), Payload { msg: wrapped, aad })
            .ok()?,
    );
    MasterKey::from_bytes(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_open_only_under_their_own_name_and_unchanged() {
        let k = MasterKey::generate();
        let id = k.object_id(b"hello");
        let sealed = k.seal_content("data/x", &id, b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(k.open("data/x", &sealed).expect("opens"), b"hello");
        assert!(k.open("data/y", &sealed).is_err(), "moved object must fail");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert!(k.open("data/x", &bad).is_err(), "flip at {i} unnoticed");
        }
        // Deterministic for content objects (resumable uploads).
        assert_eq!(sealed, k.seal_content("data/x", &id, b"hello"));
        // Random otherwise.
        assert_ne!(k.seal_random("s", b"a"), k.seal_random("s", b"a"));
    }

    #[test]
    fn ids_depend_on_the_repository_key() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        assert_ne!(a.object_id(b"same"), b.object_id(b"same"));
        assert_eq!(a.object_id(b"same"), a.object_id(b"same"));
    }

    #[test]
    fn wrapped_key_opens_only_with_the_right_secret() {
        let params = KdfParams {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        };
        let m = MasterKey::generate();
        let right = KeySource::Passphrase(Zeroizing::new("correct horse".into()));
        let wrong = KeySource::Passphrase(Zeroizing::new("correct hors".into()));
        let kek = derive_kek(&right, b"salt-salt-salt-1", params).expect("kek");
        let (nonce, ct) = wrap(&kek, b"aad", &m);
        let back = unwrap(&kek, b"aad", &nonce, &ct).expect("unwraps");
        assert_eq!(back.as_bytes(), m.as_bytes());
        let bad = derive_kek(&wrong, b"salt-salt-salt-1", params).expect("kek");
        assert!(unwrap(&bad, b"aad", &nonce, &ct).is_none());
        assert!(unwrap(&kek, b"other aad", &nonce, &ct).is_none());
        let file = KeySource::KeyFile(Zeroizing::new(vec![7u8; 64]));
        let fk = derive_kek(&file, b"s", params).expect("kek");
        assert_ne!(*fk, *kek);
    }
}
