//! The node's platform key (`--platform-key-file`): it seals the secret halves of certificate
//! signing keys before they become entries of the platform's chain, so that backups and
//! replication streams carry them only sealed (docs/design/platform-chain.md).
//!
//! Invariant: a sealed secret opens only under the same platform key and for the same
//! municipality and key id it was sealed for (both are the AEAD's associated data). The
//! platform key itself is never written to the database, a backup or a replication stream;
//! the operator keeps a copy of the file, as of a repository's password.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::StoreError;

/// BLAKE3 key derivation context: a platform key seals nothing but signing keys with this.
const CONTEXT: &str = "murakumo 2026-12 platform key: sealing certificate signing keys v1";
const NONCE: usize = 24;

/// 32 random bytes that this node and the nodes that may take over its signing share.
#[derive(Clone)]
pub struct PlatformKey {
    sealing: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformKey(…)")
    }
}

impl PlatformKey {
    /// Reads the key file, or creates it and its directory (32 random bytes, mode 0600) if
    /// there is none.
    pub fn load_or_create(path: &Path) -> Result<PlatformKey, StoreError> {
        let bad = |why: String| StoreError::PlatformKey {
            path: path.display().to_string(),
            reason: why,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    bad(format!(
                        "it holds {} bytes, a platform key 32: give the file this platform's \
                         other nodes use, or move it away to start a new platform",
                        bytes.len()
                    ))
                })?;
                Ok(PlatformKey::from_secret(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| bad(format!("cannot create its directory: {e}")))?;
                }
                let mut secret = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(secret.as_mut());
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options
                    .open(path)
                    .and_then(|mut f| f.write_all(secret.as_ref()).map(|()| f))
                    .map_err(|e| bad(format!("cannot create it: {e}")))?;
                file.sync_all()
                    .map_err(|e| bad(format!("cannot write it: {e}")))?;
                drop(file);
                tracing::warn!(path = %path.display(), "created this node's platform key: keep a copy \
                    apart from the backups; a restore or a centre replica needs it to sign with the \
                    municipalities' keys");
                Ok(PlatformKey::from_secret(*secret))
            }
            Err(e) => Err(bad(format!("cannot read it: {e}"))),
        }
    }

    pub fn from_secret(secret: [u8; 32]) -> PlatformKey {
        let secret = Zeroizing::new(secret);
        PlatformKey {
            sealing: Zeroizing::new(blake3::derive_key(CONTEXT, secret.as_ref())),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(*self.sealing))
    }

    /// Seals `secret` for `tenant`'s key `key_id`: nonce, then ciphertext and tag.
    pub fn seal(&self, tenant: &str, key_id: &str, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(tenant, key_id);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`PlatformKey::seal`] sealed for the same tenant and key id; `None` if it
    /// was sealed under another platform key, for another key, or changed.
    pub fn open(&self, tenant: &str, key_id: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().ok()?;
        let aad = associated_data(tenant, key_id);
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

fn associated_data(tenant: &str, key_id: &str) -> Vec<u8> {
    format!("{tenant}/{key_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_under_its_key_tenant_and_key_id() {
        let key = PlatformKey::from_secret([1; 32]);
        let sealed = key.seal("016489", "k1", b"secret");
        assert_eq!(
            key.open("016489", "k1", &sealed)
                .as_deref()
                .map(Vec::as_slice),
            Some(b"secret".as_slice())
        );
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "sealed, not copied"
        );
        assert!(
            key.open("012289", "k1", &sealed).is_none(),
            "another tenant"
        );
        assert!(
            key.open("016489", "k2", &sealed).is_none(),
            "another key id"
        );
        let other = PlatformKey::from_secret([2; 32]);
        assert!(
            other.open("016489", "k1", &sealed).is_none(),
            "another platform"
        );
        let mut changed = sealed.clone();
        *changed.last_mut().expect("not empty") ^= 1;
        assert!(key.open("016489", "k1", &changed).is_none(), "changed");
        assert!(
            key.open("016489", "k1", &sealed[..10]).is_none(),
            "cut short"
        );
        assert_ne!(
            sealed,
            key.seal("016489", "k1", b"secret"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("platform.key");
        let made = PlatformKey::load_or_create(&path).expect("created");
        let sealed = made.seal("016489", "k1", b"s");
        let read = PlatformKey::load_or_create(&path).expect("read");
        assert!(read.open("016489", "k1", &sealed).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, b"short").expect("write");
        let e = PlatformKey::load_or_create(&path).expect_err("refused");
        assert!(e.to_string().contains("5 bytes"), "{e}");
    }
}
