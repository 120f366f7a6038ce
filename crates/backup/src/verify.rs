//! `murakumo verify --repo URL`: every snapshot opens, every chunk it names
//! is present, authenticates and is the content its id names, every segment
//! decodes and verifies (its own hash chain), consecutive segments link up,
//! and each chain ends at the head its snapshot recorded. Objects no
//! snapshot names (left by an interrupted run) are checked to open as well.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use murakumo_ledger::{ChainHead, Segment};

use crate::manifest::{BlobRef, ChunkRef, SegmentRef, Snapshot};
use crate::repo::{DATA, Repository};
use crate::restore::segments_of;
use crate::{BackupError, Result};

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub snapshots: usize,
    pub chunks: usize,
    pub segments: usize,
    /// (tenant, chain, head) verified in the newest snapshot.
    pub chains: Vec<(String, &'static str, ChainHead)>,
    /// Each problem, naming the object and what depends on it.
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

pub async fn verify(repo: &Repository) -> Result<VerifyReport> {
    let progress = repo.target().progress().clone();
    let mut report = VerifyReport::default();
    let stored: BTreeSet<String> = repo.target().list(DATA).await?.into_iter().collect();
    progress.message("reading snapshots");
    let names = repo.snapshot_names().await?;
    let mut snaps: BTreeMap<String, Snapshot> = BTreeMap::new();
    for n in &names {
        match repo.read_snapshot(n).await {
            Ok(s) => {
                snaps.insert(n.clone(), s);
            }
            Err(e) => report.problems.push(format!("snapshot {n}: {e}")),
        }
    }
    report.snapshots = names.len();
    let total: u64 = stored.len() as u64;
    progress.set_total(total);

    // Chunks, checked once each: name -> None (ok) or Some(problem).
    let mut chunk_state: HashMap<String, Option<String>> = HashMap::new();
    // Segments, decoded once each: last chunk id list -> ok?
    let mut seg_ok: HashMap<Vec<String>, bool> = HashMap::new();

    for (sname, snap) in &snaps {
        if let Some(p) = &snap.parent
            && !snaps.contains_key(p)
        {
            report.problems.push(format!(
                "snapshot {sname}: its parent {p} is missing or unreadable, so restoring from it \
                 lacks the older segments"
            ));
            continue;
        }
        let lineage = lineage_of(&snaps, sname);
        if let Some(blob) = &snap.platform {
            check_blob(repo, blob, &stored, &mut chunk_state, &mut report, || {
                format!("platform data of snapshot {sname}")
            })
            .await;
        }
        for t in &snap.tenants {
            for (ledger, chain) in [(true, "ledger"), (false, "access")] {
                let c = t.chain(ledger);
                let mut at = ChainHead::EMPTY;
                let mut broken = false;
                for s in segments_of(&lineage, &t.code, ledger) {
                    let what = || {
                        format!(
                            "tenant {} {chain} entries {}..{} (snapshot {sname})",
                            t.code, s.first_seq, s.last_seq
                        )
                    };
                    if s.first_seq != at.seq + 1 || s.prev_hash != at.hash.to_hex() {
                        report.problems.push(format!(
                            "{}: does not continue the chain (which ends at entry {} there)",
                            what(),
                            at.seq
                        ));
                        broken = true;
                        break;
                    }
                    let key: Vec<String> = s.blob.chunks.iter().map(|c| c.id.clone()).collect();
                    let ok = match seg_ok.get(&key) {
                        Some(ok) => *ok,
                        None => {
                            let ok = check_segment(
                                repo,
                                s,
                                &stored,
                                &mut chunk_state,
                                &mut report,
                                what,
                            )
                            .await;
                            report.segments += 1;
                            seg_ok.insert(key, ok);
                            ok
                        }
                    };
                    if !ok {
                        broken = true;
                    }
                    at = ChainHead {
                        seq: s.last_seq,
                        hash: murakumo_ledger::ChainHash::from_hex(&s.last_hash)
                            .unwrap_or(murakumo_ledger::ChainHash::GENESIS),
                    };
                }
                if !broken && (at.seq != c.head_seq || at.hash.to_hex() != c.head_hash) {
                    report.problems.push(format!(
                        "tenant {} {chain} in snapshot {sname}: the segments end at entry {}, \
                         but the snapshot records the head at {}",
                        t.code, at.seq, c.head_seq
                    ));
                    broken = true;
                }
                if !broken && names.last() == Some(sname) {
                    report.chains.push((t.code.clone(), chain, at));
                }
            }
        }
    }
    // Objects no snapshot names.
    for name in &stored {
        if chunk_state.contains_key(name) {
            continue;
        }
        let id = name.rsplit('/').next().unwrap_or_default().to_string();
        let c = ChunkRef { id, size: 0 };
        check_chunk(repo, &c, name, &stored, &mut chunk_state).await;
        if let Some(Some(p)) = chunk_state.get(name) {
            report.problems.push(format!(
                "{p} (not named by any snapshot: left by an interrupted backup)"
            ));
        }
    }
    report.chunks = chunk_state.len();
    for w in repo.target().take_warnings() {
        report.problems.push(w);
    }
    Ok(report)
}

fn lineage_of(snaps: &BTreeMap<String, Snapshot>, name: &str) -> Vec<(String, Snapshot)> {
    let mut out = Vec::new();
    let mut next = Some(name.to_string());
    while let Some(n) = next {
        let Some(s) = snaps.get(&n) else { break };
        if out.iter().any(|(m, _): &(String, Snapshot)| *m == n) {
            break;
        }
        next = s.parent.clone();
        out.push((n, s.clone()));
    }
    out.reverse();
    out
}

async fn check_chunk(
    repo: &Repository,
    c: &ChunkRef,
    name: &str,
    stored: &BTreeSet<String>,
    state: &mut HashMap<String, Option<String>>,
) -> Option<Vec<u8>> {
    if let Some(Some(_)) = state.get(name) {
        return None;
    }
    if !stored.contains(name) {
        state.insert(name.to_string(), Some(format!("MISSING {name}")));
        return None;
    }
    let result = match repo.target().read(name).await {
        Ok(Some(sealed)) => repo.open_chunk(name, &c.id, &sealed),
        Ok(None) => Err(BackupError::Missing {
            repo: repo.url(),
            name: name.to_string(),
        }),
        Err(e) => Err(e),
    };
    repo.target().progress().advance(1);
    match result {
        Ok(plain) => {
            state.insert(name.to_string(), None);
            Some(plain)
        }
        Err(BackupError::Missing { .. }) => {
            state.insert(name.to_string(), Some(format!("MISSING {name}")));
            None
        }
        Err(BackupError::Corrupted { reason, .. }) => {
            state.insert(
                name.to_string(),
                Some(format!("CORRUPTED {name}: {reason}")),
            );
            None
        }
        Err(e) => {
            state.insert(name.to_string(), Some(format!("UNREADABLE {name}: {e}")));
            None
        }
    }
}

/// Reads a blob chunk by chunk, recording per-chunk problems; the bytes if
/// every chunk is good.
async fn read_blob_checked(
    repo: &Repository,
    blob: &BlobRef,
    stored: &BTreeSet<String>,
    state: &mut HashMap<String, Option<String>>,
    report: &mut VerifyReport,
    what: impl Fn() -> String,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut ok = true;
    for c in &blob.chunks {
        let name = c.object_name();
        match check_chunk(repo, c, &name, stored, state).await {
            Some(p) => out.extend_from_slice(&p),
            None => {
                ok = false;
                if let Some(Some(p)) = state.get(&name) {
                    report.problems.push(format!("{p} — needed for {}", what()));
                }
            }
        }
    }
    if ok && out.len() as u64 != blob.size {
        report.problems.push(format!(
            "{}: {} bytes, the snapshot says {}",
            what(),
            out.len(),
            blob.size
        ));
        ok = false;
    }
    ok.then_some(out)
}

async fn check_blob(
    repo: &Repository,
    blob: &BlobRef,
    stored: &BTreeSet<String>,
    state: &mut HashMap<String, Option<String>>,
    report: &mut VerifyReport,
    what: impl Fn() -> String,
) {
    let _ = read_blob_checked(repo, blob, stored, state, report, what).await;
}

async fn check_segment(
    repo: &Repository,
    s: &SegmentRef,
    stored: &BTreeSet<String>,
    state: &mut HashMap<String, Option<String>>,
    report: &mut VerifyReport,
    what: impl Fn() -> String,
) -> bool {
    let Some(bytes) = read_blob_checked(repo, &s.blob, stored, state, report, &what).await else {
        return false;
    };
    match Segment::decode(&bytes) {
        Ok(seg)
            if seg.header.first_seq == s.first_seq
                && seg.header.last_seq == s.last_seq
                && seg.header.last_hash.to_hex() == s.last_hash =>
        {
            true
        }
        Ok(_) => {
            report.problems.push(format!(
                "{}: the segment stored is not the one named",
                what()
            ));
            false
        }
        Err(e) => {
            report.problems.push(format!("{}: {e}", what()));
            false
        }
    }
}
