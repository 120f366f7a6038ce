//! A repository: the `config` object (the wrapped master key), sealed
//! content-addressed chunks under `data/`, and sealed snapshots under
//! `snapshots/`.

use std::sync::Mutex;

use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, KdfParams, KeySource, MasterKey, SEAL_OVERHEAD};
use crate::manifest::{BlobRef, ChunkRef, FORMAT, Snapshot, chunk_name};
use crate::target::Target;
use crate::{BackupError, Result};

pub const CONFIG: &str = "config";
pub const SNAPSHOTS: &str = "snapshots/";
pub const DATA: &str = "data/";
const CONFIG_FORMAT: &str = "murakumo-backup-repository";

/// The `config` object, in the clear (it holds nothing secret).
#[derive(Serialize, Deserialize)]
struct RepoConfig {
    format: String,
    version: u32,
    repo_id: String,
    created_at: chrono::DateTime<Utc>,
    keys: Vec<WrappedKey>,
}

#[derive(Serialize, Deserialize)]
struct WrappedKey {
    /// `passphrase` (argon2id) or `key-file` (BLAKE3 derive_key).
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argon2id: Option<KdfParams>,
    salt: String,
    nonce: String,
    wrapped: String,
}

fn kind_tag(k: &KeySource) -> &'static str {
    match k {
        KeySource::Passphrase(_) => "passphrase",
        KeySource::KeyFile(_) => "key-file",
    }
}

fn wrap_aad(repo_id: &str, kind: &str, params: Option<KdfParams>) -> Vec<u8> {
    let mut aad = format!("murakumo backup master key v1\0{repo_id}\0{kind}").into_bytes();
    if let Some(p) = params {
        aad.extend_from_slice(format!("\0{}:{}:{}", p.m_cost_kib, p.t_cost, p.p_cost).as_bytes());
    }
    aad
}

/// Transfer counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub chunks_sent: u64,
    pub chunks_already_stored: u64,
    /// Sealed bytes uploaded (what crossed the link, less HTTP overhead).
    pub bytes_sent: u64,
    pub bytes_already_stored: u64,
}

pub struct Repository {
    target: Target,
    key: MasterKey,
    stats: Mutex<Stats>,
    /// The `config` object as it opened (what a repair writes back to a
    /// site that lacks it).
    config: Vec<u8>,
}

impl Repository {
    /// Opens the repository, creating it (with `key`) if `create` and it
    /// has no `config` yet.
    pub async fn open(target: Target, key: &KeySource, create: bool) -> Result<Repository> {
        let url = target.location().to_string();
        let bad = |reason: String| BackupError::BadRepository {
            repo: url.clone(),
            reason,
        };
        let (config, config_bytes) = match target.read(CONFIG).await? {
            Some(bytes) => {
                let c: RepoConfig = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("its config object is not readable: {e}")))?;
                if c.format != CONFIG_FORMAT || c.version != 1 {
                    return Err(bad(format!(
                        "format {:?} version {} is not one this program reads",
                        c.format, c.version
                    )));
                }
                (c, bytes)
            }
            None if create => {
                let master = MasterKey::generate();
                let mut id = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut id);
                let repo_id = hex::encode(id);
                let wrapped = wrap_new(&repo_id, key, &master).map_err(bad)?;
                let c = RepoConfig {
                    format: CONFIG_FORMAT.into(),
                    version: 1,
                    repo_id,
                    created_at: Utc::now(),
                    keys: vec![wrapped],
                };
                let json = serde_json::to_vec_pretty(&c)
                    .map_err(|e| bad(format!("cannot encode config: {e}")))?;
                target.write(CONFIG, &json).await?;
                tracing::info!(repo = %url, "created a new backup repository");
                return Ok(Repository {
                    target,
                    key: master,
                    stats: Mutex::default(),
                    config: json,
                });
            }
            None => {
                return Err(bad(
                    "there is no repository there (no config object); check the URL, \
                     or make one with `murakumo backup --to URL`"
                        .into(),
                ));
            }
        };
        let tag = kind_tag(key);
        let Some(w) = config.keys.iter().find(|w| w.kind == tag) else {
            let has = if config.keys.iter().any(|w| w.kind == "passphrase") {
                "passphrase"
            } else {
                "key file"
            };
            return Err(BackupError::KeyKindMismatch {
                repo: url,
                has,
                given: key.kind(),
                hint: if has == "passphrase" {
                    "set MURAKUMO_BACKUP_PASSPHRASE (and do not pass --key-file)"
                } else {
                    "pass --key-file FILE with the key file it was created with"
                },
            });
        };
        let hexd = |s: &str, what: &str| {
            hex::decode(s).map_err(|_| bad(format!("config field {what} is not hex")))
        };
        let salt = hexd(&w.salt, "salt")?;
        let nonce = hexd(&w.nonce, "nonce")?;
        let wrapped = hexd(&w.wrapped, "wrapped")?;
        let params = w.argon2id.unwrap_or(KdfParams::DEFAULT);
        let kek = crypto::derive_kek(key, &salt, params).map_err(bad)?;
        let aad = wrap_aad(&config.repo_id, tag, w.argon2id);
        let master = crypto::unwrap(&kek, &aad, &nonce, &wrapped).ok_or(BackupError::WrongKey {
            repo: url,
            kind: key.kind(),
        })?;
        Ok(Repository {
            target,
            key: master,
            stats: Mutex::default(),
            config: config_bytes,
        })
    }

    /// The `config` object's bytes, as the repository opened with them.
    pub(crate) fn config_bytes(&self) -> &[u8] {
        &self.config
    }

    pub fn url(&self) -> String {
        self.target.location().to_string()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn stats(&self) -> Stats {
        match self.stats.lock() {
            Ok(s) => *s,
            Err(p) => *p.into_inner(),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        match self.stats.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Stores `data` as chunks of at most `chunk_size` bytes, sending only
    /// chunks the repository does not hold whole yet.
    pub async fn put_blob(&self, data: &[u8], chunk_size: usize) -> Result<BlobRef> {
        let mut chunks = Vec::new();
        for piece in data.chunks(chunk_size.max(1)) {
            let id = self.key.object_id(piece);
            let id_hex = hex::encode(id);
            let name = chunk_name(&id_hex);
            let sealed_len = (piece.len() + SEAL_OVERHEAD) as u64;
            if self.target.holds(&name, sealed_len).await? {
                self.target.progress().advance(sealed_len);
                self.count(|s| {
                    s.chunks_already_stored += 1;
                    s.bytes_already_stored += sealed_len;
                });
            } else {
                let sealed = self.key.seal_content(&name, &id, piece);
                self.target.write(&name, &sealed).await?;
                self.count(|s| {
                    s.chunks_sent += 1;
                    s.bytes_sent += sealed_len;
                });
            }
            chunks.push(ChunkRef {
                id: id_hex,
                size: piece.len() as u64,
            });
        }
        Ok(BlobRef {
            size: data.len() as u64,
            chunks,
        })
    }

    /// Reads and authenticates one chunk.
    pub async fn get_chunk(&self, c: &ChunkRef) -> Result<Vec<u8>> {
        let name = c.object_name();
        let sealed = self
            .target
            .read(&name)
            .await?
            .ok_or_else(|| BackupError::Missing {
                repo: self.url(),
                name: name.clone(),
            })?;
        self.target.progress().advance(c.size);
        self.open_chunk(&name, &c.id, &sealed)
    }

    /// Authenticates a sealed chunk and checks it is the content its id names.
    pub fn open_chunk(&self, name: &str, id_hex: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let corrupted = |reason: String| BackupError::Corrupted {
            repo: self.url(),
            name: name.to_string(),
            reason,
        };
        let plain = self.key.open(name, sealed).map_err(corrupted)?;
        if hex::encode(self.key.object_id(&plain)) != id_hex {
            return Err(corrupted("content does not match its id".into()));
        }
        Ok(plain)
    }

    pub async fn get_blob(&self, b: &BlobRef) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(b.size).unwrap_or(0));
        for c in &b.chunks {
            out.extend_from_slice(&self.get_chunk(c).await?);
        }
        if out.len() as u64 != b.size {
            return Err(BackupError::BadRepository {
                repo: self.url(),
                reason: format!(
                    "a blob is {} bytes, its snapshot says {}",
                    out.len(),
                    b.size
                ),
            });
        }
        Ok(out)
    }

    /// Snapshot names, oldest first.
    pub async fn snapshot_names(&self) -> Result<Vec<String>> {
        Ok(self
            .target
            .list(SNAPSHOTS)
            .await?
            .into_iter()
            .filter(|n| !n.ends_with('/'))
            .collect())
    }

    pub async fn read_snapshot(&self, name: &str) -> Result<Snapshot> {
        let sealed =
            self.target
                .read(name)
                .await?
                .ok_or_else(|| BackupError::SnapshotNotFound {
                    repo: self.url(),
                    name: name.to_string(),
                })?;
        let corrupted = |reason: String| BackupError::Corrupted {
            repo: self.url(),
            name: name.to_string(),
            reason,
        };
        let packed = self.key.open(name, &sealed).map_err(corrupted)?;
        let json = zstd::decode_all(packed.as_slice())
            .map_err(|e| corrupted(format!("does not decompress: {e}")))?;
        let snap: Snapshot =
            serde_json::from_slice(&json).map_err(|e| corrupted(format!("not a snapshot: {e}")))?;
        if snap.format > FORMAT {
            return Err(BackupError::BadRepository {
                repo: self.url(),
                reason: format!(
                    "snapshot {name} has format {}, newer than this program reads ({FORMAT}); \
                     upgrade murakumo",
                    snap.format
                ),
            });
        }
        Ok(snap)
    }

    /// Writes a snapshot (last, after every chunk it names is stored).
    pub async fn write_snapshot(&self, snap: &Snapshot) -> Result<String> {
        let mut r = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut r);
        let name = format!(
            "{SNAPSHOTS}{}-{}",
            snap.created_at.format("%Y%m%dT%H%M%S%.6fZ"),
            hex::encode(r)
        );
        let json = serde_json::to_vec(snap).map_err(|e| BackupError::BadRepository {
            repo: self.url(),
            reason: format!("cannot encode snapshot: {e}"),
        })?;
        let packed = zstd::encode_all(json.as_slice(), 9).map_err(|e| BackupError::Io {
            action: "compressing the snapshot".into(),
            source: e,
        })?;
        let sealed = self.key.seal_random(&name, &packed);
        self.target.write(&name, &sealed).await?;
        self.count(|s| s.bytes_sent += sealed.len() as u64);
        Ok(name)
    }

    /// The newest snapshot, if any.
    pub async fn latest(&self) -> Result<Option<(String, Snapshot)>> {
        match self.snapshot_names().await?.pop() {
            Some(name) => {
                let s = self.read_snapshot(&name).await?;
                Ok(Some((name, s)))
            }
            None => Ok(None),
        }
    }

    /// A snapshot and its ancestors, oldest first.
    pub async fn lineage(&self, name: &str) -> Result<Vec<(String, Snapshot)>> {
        let mut out = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            if out.iter().any(|(m, _)| *m == n) {
                return Err(BackupError::BadRepository {
                    repo: self.url(),
                    reason: format!("snapshot {n} is its own ancestor"),
                });
            }
            let s = self.read_snapshot(&n).await?;
            next = s.parent.clone();
            out.push((n, s));
        }
        out.reverse();
        Ok(out)
    }
}

fn wrap_new(repo_id: &str, key: &KeySource, master: &MasterKey) -> Result<WrappedKey, String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let params = match key {
        KeySource::Passphrase(_) => Some(KdfParams::DEFAULT),
        KeySource::KeyFile(_) => None,
    };
    let kek = crypto::derive_kek(key, &salt, params.unwrap_or(KdfParams::DEFAULT))?;
    let tag = kind_tag(key);
    let (nonce, wrapped) = crypto::wrap(&kek, &wrap_aad(repo_id, tag, params), master);
    Ok(WrappedKey {
        kind: tag.into(),
        argon2id: params,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped: hex::encode(wrapped),
    })
}
