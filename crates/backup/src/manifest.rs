//! What a snapshot records (JSON, zstd-compressed, sealed; see
//! `docs/design/backup-repository.md`).
//!
//! A snapshot is small: it lists the segments this run added and carries
//! forward the head of every chain, and names its parent. The full list of a
//! chain's segments is found by walking parents back to the first snapshot,
//! so a daily incremental uploads only the day's segments and a few KiB.
//!
//! Unknown fields are ignored and new ones have defaults, so later versions
//! can add to the format (`TenantSnapshot::signing_keys` came that way).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub format: u32,
    /// The previous snapshot's name; `None` for the first one.
    pub parent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The tenant backed up by this run, if it was limited to one.
    #[serde(default)]
    pub only_tenant: Option<String>,
    /// Every tenant backed up so far (heads carried forward).
    pub tenants: Vec<TenantSnapshot>,
    /// Platform data (県版 settings, operators) as a blob: written by versions before the
    /// platform chain, read only for their snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<BlobRef>,
    /// The platform's chain (operators, 県版 settings): head carried forward, segments added
    /// by this run. `None` in snapshots of older versions (they carry `platform`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_chain: Option<ChainSnapshot>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TenantSnapshot {
    pub code: String,
    pub name: String,
    pub prefecture_code: String,
    /// µs since 1970 UTC.
    pub created_at: i64,
    pub ledger: ChainSnapshot,
    pub access: ChainSnapshot,
    /// Reserved: stored files, content-addressed. (印影 and 公印 images
    /// travel inside ledger entries, so none are stored here so far.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
    /// The tenant's certificate signing keys, as snapshots of versions before keys were
    /// ledger entries held them (read, never written: the keys are in the chains now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<SigningKeyRecord>,
}

/// One signing key; byte strings in hex.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub key_id: String,
    pub public_key: String,
    pub secret_key: String,
    /// µs since 1970 UTC.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// The municipal site whose key this is (its secret is not here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// The chain's head as backed up (all of it, across all snapshots).
    pub head_seq: u64,
    pub head_hash: String,
    /// Recording time (µs) of the newest entry backed up; 0 if none.
    #[serde(default)]
    pub newest_recorded_at: i64,
    /// Segments added by this snapshot, in order.
    #[serde(default)]
    pub segments: Vec<SegmentRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SegmentRef {
    pub first_seq: u64,
    pub last_seq: u64,
    pub prev_hash: String,
    pub last_hash: String,
    /// Recording times (µs) of the first and last entries, for `--at`.
    pub first_recorded_at: i64,
    pub last_recorded_at: i64,
    /// The encoded segment (`Segment::encode`) as a blob.
    pub blob: BlobRef,
}

/// A byte string stored as content-addressed chunks, in order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRef {
    pub size: u64,
    pub chunks: Vec<ChunkRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkRef {
    /// Hex of the keyed BLAKE3 id; stored as `data/<id[0..2]>/<id>`.
    pub id: String,
    /// Plaintext length.
    pub size: u64,
}

/// Reserved for stored files (not produced yet).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRef {
    pub kind: String,
    pub key: String,
    pub blob: BlobRef,
}

/// Platform-level data, stored as one blob.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlatformData {
    /// (prefecture code, key, value) of 県版 settings.
    pub prefecture_settings: Vec<(String, String, String)>,
    pub operators: Vec<OperatorRecord>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorRecord {
    pub operator_id: String,
    pub login: String,
    pub display_name: String,
    pub password_hash: String,
}

impl ChunkRef {
    pub fn object_name(&self) -> String {
        chunk_name(&self.id)
    }
}

pub fn chunk_name(id_hex: &str) -> String {
    format!("data/{}/{id_hex}", id_hex.get(..2).unwrap_or("00"))
}

impl Snapshot {
    pub fn tenant(&self, code: &str) -> Option<&TenantSnapshot> {
        self.tenants.iter().find(|t| t.code == code)
    }
}

impl ChainSnapshot {
    /// Entries in the segments this snapshot added.
    pub fn entries_added(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.last_seq - s.first_seq + 1)
            .sum()
    }
}

impl TenantSnapshot {
    pub fn chain(&self, ledger: bool) -> &ChainSnapshot {
        if ledger { &self.ledger } else { &self.access }
    }
}
