//! One backup run: for every tenant (or one), the entries of each chain after
//! the head recorded in the newest snapshot, cut into segments, stored as
//! chunks; then the platform's chain the same way (a run for one tenant carries its
//! head forward); then — last — the snapshot. A run killed
//! half-way leaves chunks but no snapshot; the next run recuts the same
//! segments (cutting is deterministic), finds their chunks stored and sends
//! only the rest.

use chrono::Utc;
use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHash, ChainHead, Entry, cut_segments};
use murakumo_store::{Chain, Store, TenantInfo};

use crate::chains::ChainRef;

use crate::manifest::{ChainSnapshot, FORMAT, SegmentRef, Snapshot, TenantSnapshot};
use crate::repo::{Repository, Stats};
use crate::{BackupError, Result};

/// How to back up.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// Only this tenant (others' heads are carried forward unchanged).
    pub tenant: Option<TenantCode>,
    /// Maximum chunk size in bytes (default 8 MiB).
    pub chunk_size: usize,
    /// Segments are cut at about this many uncompressed bytes.
    pub segment_bytes: usize,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            tenant: None,
            chunk_size: 8 << 20,
            segment_bytes: 32 << 20,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct BackupReport {
    pub snapshot: String,
    pub parent: Option<String>,
    pub tenants: usize,
    /// New entries backed up (both chains, all tenants).
    pub entries: u64,
    pub segments: u64,
    pub stats: Stats,
}

/// Entries read per query.
const PAGE: u32 = 10_000;

pub async fn backup(
    store: &Store,
    repo: &Repository,
    opts: &BackupOptions,
) -> Result<BackupReport> {
    let progress = repo.target().progress().clone();
    progress.message("reading the newest snapshot");
    let latest = repo.latest().await?;
    let (parent, mut tenants, platform_before) = match &latest {
        Some((name, s)) => (
            Some(name.clone()),
            s.tenants.clone(),
            s.platform_chain.clone(),
        ),
        None => (None, Vec::new(), None),
    };
    let infos: Vec<TenantInfo> = match &opts.tenant {
        Some(code) => vec![store.tenant_info(code).await?],
        None => store.list_tenants().await?,
    };
    // Rough total for the progress bar, refined as segments are encoded.
    let mut pending_entries = 0u64;
    if opts.tenant.is_none() {
        let base = platform_before.as_ref().map_or(0, |c| c.head_seq);
        pending_entries += store
            .platform_chain()
            .head()
            .await?
            .seq
            .saturating_sub(base);
    }
    for info in &infos {
        let ts = store.tenant(&info.code);
        for chain in [Chain::Ledger, Chain::Access] {
            let base = tenants
                .iter()
                .find(|t| t.code == info.code.as_str())
                .map_or(0, |t| t.chain(chain == Chain::Ledger).head_seq);
            pending_entries += ts.head(chain).await?.seq.saturating_sub(base);
        }
    }
    let mut est = Estimate {
        pending_entries,
        ..Estimate::default()
    };
    progress.set_total(est.total());

    let mut entries_done = 0u64;
    let mut segments_done = 0u64;
    for info in &infos {
        let previous = tenants
            .iter()
            .position(|t| t.code == info.code.as_str())
            .map(|i| tenants.remove(i));
        let mut chains = Vec::new();
        for chain in [Chain::Ledger, Chain::Access] {
            progress.message(&format!("{} {}", info.code, chain.name()));
            let prev = previous
                .as_ref()
                .map(|t| t.chain(chain == Chain::Ledger).clone())
                .unwrap_or_default();
            let source = ChainRef::Tenant(store.tenant(&info.code), chain);
            let cs = backup_chain(repo, opts, &source, &prev, &mut est).await?;
            entries_done += cs.entries_added();
            segments_done += cs.segments.len() as u64;
            chains.push(cs);
        }
        let access = chains.pop().unwrap_or_default();
        let ledger = chains.pop().unwrap_or_default();
        tenants.push(TenantSnapshot {
            code: info.code.to_string(),
            name: info.name.clone(),
            prefecture_code: info.prefecture_code.clone(),
            created_at: info.created_at.timestamp_micros(),
            ledger,
            access,
            files: previous.map(|p| p.files).unwrap_or_default(),
            // In the chains now: public halves in the ledger, secrets sealed in the
            // platform's chain. Kept in the format for snapshots of older versions.
            signing_keys: Vec::new(),
        });
    }
    tenants.sort_by(|a, b| a.code.cmp(&b.code));

    // The platform's chain goes with a backup of every tenant; one of a single tenant
    // carries its head forward.
    let platform_chain = match &opts.tenant {
        Some(_) => platform_before.map(|c| ChainSnapshot {
            segments: Vec::new(),
            ..c
        }),
        None => {
            progress.message("platform chain");
            let prev = platform_before.unwrap_or_default();
            let source = ChainRef::Platform(store.platform_chain());
            let cs = backup_chain(repo, opts, &source, &prev, &mut est).await?;
            entries_done += cs.entries_added();
            segments_done += cs.segments.len() as u64;
            Some(cs)
        }
    };

    progress.message("writing the snapshot");
    let snap = Snapshot {
        format: FORMAT,
        parent: parent.clone(),
        created_at: Utc::now(),
        only_tenant: opts.tenant.map(|t| t.to_string()),
        tenants,
        platform: None,
        platform_chain,
    };
    let name = repo.write_snapshot(&snap).await?;
    Ok(BackupReport {
        snapshot: name,
        parent,
        tenants: infos.len(),
        entries: entries_done,
        segments: segments_done,
        stats: repo.stats(),
    })
}

#[derive(Default)]
struct Estimate {
    pending_entries: u64,
    known_bytes: u64,
    encoded_entries: u64,
    encoded_bytes: u64,
}

impl Estimate {
    fn total(&self) -> u64 {
        let per_entry = if self.encoded_entries > 0 {
            self.encoded_bytes as f64 / self.encoded_entries as f64
        } else {
            120.0
        };
        self.known_bytes + (self.pending_entries as f64 * per_entry) as u64
    }
}

async fn backup_chain(
    repo: &Repository,
    opts: &BackupOptions,
    source: &ChainRef<'_>,
    prev: &ChainSnapshot,
    est: &mut Estimate,
) -> Result<ChainSnapshot> {
    let head = source.head().await?;
    let base = ChainHead {
        seq: prev.head_seq,
        hash: if prev.head_seq == 0 {
            ChainHash::GENESIS
        } else {
            ChainHash::from_hex(&prev.head_hash).ok_or_else(|| BackupError::BadRepository {
                repo: repo.url(),
                reason: format!(
                    "{} {} head hash is not hex",
                    source.owner(),
                    source.chain().name()
                ),
            })?
        },
    };
    let diverged = || BackupError::Diverged {
        owner: source.owner(),
        chain: source.chain().name(),
        seq: base.seq,
    };
    if head.seq < base.seq {
        return Err(diverged());
    }
    if base.seq > 0 {
        let at = source.read_after(base.seq - 1, 1).await?;
        if at.first().map(|e| (e.seq, e.hash)) != Some((base.seq, base.hash)) {
            return Err(diverged());
        }
    }
    let mut out = ChainSnapshot {
        head_seq: base.seq,
        head_hash: base.hash.to_hex(),
        newest_recorded_at: prev.newest_recorded_at,
        segments: Vec::new(),
    };
    let mut pending: Vec<Entry> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut after = base.seq;
    loop {
        let page = if after < head.seq {
            source.read_after(after, PAGE).await?
        } else {
            Vec::new()
        };
        let done = page.is_empty();
        for e in page.into_iter().take_while(|e| e.seq <= head.seq) {
            after = e.seq;
            pending_bytes += 64 + e.kind.len() + e.actor.len() + e.payload.len();
            pending.push(e);
        }
        if pending.is_empty() {
            break;
        }
        if !done && after < head.seq && pending_bytes < opts.segment_bytes * 2 {
            continue;
        }
        let mut segs = cut_segments(std::mem::take(&mut pending), usize::MAX, opts.segment_bytes)?;
        // Keep the tail for the next page unless this is the end, so cut
        // points do not depend on page boundaries.
        let finished = done || after >= head.seq;
        if !finished && let Some(last) = segs.pop() {
            pending_bytes = last
                .entries
                .iter()
                .map(|e| 64 + e.kind.len() + e.actor.len() + e.payload.len())
                .sum();
            pending = last.entries;
        } else {
            pending_bytes = 0;
        }
        for seg in segs {
            let bytes = seg.encode();
            let n = seg.entries.len() as u64;
            est.pending_entries = est.pending_entries.saturating_sub(n);
            est.encoded_entries += n;
            est.encoded_bytes += bytes.len() as u64;
            est.known_bytes += bytes.len() as u64;
            repo.target().progress().set_total(est.total());
            let blob = repo.put_blob(&bytes, opts.chunk_size).await?;
            let h = &seg.header;
            let first_at = seg.entries.first().map_or(0, |e| e.recorded_at.0);
            let last_at = seg.entries.last().map_or(0, |e| e.recorded_at.0);
            out.segments.push(SegmentRef {
                first_seq: h.first_seq,
                last_seq: h.last_seq,
                prev_hash: h.prev_hash.to_hex(),
                last_hash: h.last_hash.to_hex(),
                first_recorded_at: first_at,
                last_recorded_at: last_at,
                blob,
            });
            out.head_seq = h.last_seq;
            out.head_hash = h.last_hash.to_hex();
            out.newest_recorded_at = out.newest_recorded_at.max(last_at);
        }
        if finished && pending.is_empty() {
            break;
        }
    }
    Ok(out)
}
