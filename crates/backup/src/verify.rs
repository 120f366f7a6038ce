//! `murakumo verify --repo URL`: every snapshot opens, every chunk it names
//! is present, authenticates and is the content its id names, every segment
//! decodes and verifies (its own hash chain), consecutive segments link up,
//! and each chain ends at the head its snapshot recorded. Objects no
//! snapshot names (left by an interrupted run) are checked to open as well.
//!
//! On a `dispersed:` repository every read also checks all three shares of
//! the object: a share that is missing or bad while two good ones restore
//! the object is a [`ShareFault`] (`verify --repair` rebuilds it); an object
//! without two good shares is **lost**, and every snapshot that needs it is
//! named as one that can no longer be restored whole.
//!
//! [`verify_sample`] is the daily scrub: a random share of the objects,
//! read and checked the same way, without walking the chains.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use murakumo_ledger::{ChainHead, Segment};
use rand::seq::SliceRandom;

use crate::dispersed::{FaultKind, ShareFault};
use crate::manifest::{BlobRef, ChainSnapshot, ChunkRef, SegmentRef, Snapshot};
use crate::repo::{DATA, Repository, SNAPSHOTS};
use crate::restore::segments_of;
use crate::{BackupError, Result};

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// A full check (every object, every chain) rather than a sample.
    pub full: bool,
    pub snapshots: usize,
    pub chunks: usize,
    pub segments: usize,
    /// Objects read (a sample: the ones drawn).
    pub objects_checked: usize,
    /// Shares looked at: three per object on a `dispersed:` repository,
    /// one (the object itself) elsewhere.
    pub shares_checked: u64,
    /// (tenant, chain, head) verified in the newest snapshot.
    pub chains: Vec<(String, &'static str, ChainHead)>,
    /// The platform's chain verified in the newest snapshot, if it carries one.
    pub platform: Option<ChainHead>,
    /// Each problem, naming the object and what depends on it.
    pub problems: Vec<String>,
    /// Shares that are missing or bad while the object is still readable
    /// from the other two sites: `verify --repair` rebuilds them.
    pub share_faults: Vec<ShareFault>,
    /// Objects that cannot be read (missing, damaged, or on a `dispersed:`
    /// repository fewer than two good shares), and why.
    pub lost: Vec<(String, String)>,
    /// Snapshots that can no longer be restored whole: (snapshot, what it
    /// lacks, municipalities it needs nothing lost for).
    pub unrestorable: Vec<Unrestorable>,
    /// Snapshots every object of which (and of their ancestors) is readable.
    pub restorable: Vec<String>,
    /// Bad shares of lost objects (counted in [`VerifyReport::shares_bad`]).
    pub lost_shares: u64,
}

/// A snapshot that needs a lost object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unrestorable {
    pub snapshot: String,
    /// What it needs that is lost: "data/ab/… (tenant 131016 ledger)".
    pub needs: Vec<String>,
    /// Municipalities whose chains need nothing lost: `restore --tenant`
    /// still brings them back from this snapshot.
    pub tenants_intact: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.share_faults.is_empty() && self.lost.is_empty()
    }

    /// Shares found bad (missing, damaged, unreadable; lost objects count
    /// their bad shares too on a `dispersed:` repository, once each).
    pub fn shares_bad(&self) -> u64 {
        self.share_faults.len() as u64 + self.lost_shares
    }

    /// Faults at site `site` (1..=3): (missing, corrupted, unreadable).
    pub fn faults_at(&self, site: usize) -> (u64, u64, u64) {
        let count = |k: FaultKind| {
            self.share_faults
                .iter()
                .filter(|f| f.site == site && f.kind == k)
                .count() as u64
        };
        (
            count(FaultKind::Missing),
            count(FaultKind::Corrupted),
            count(FaultKind::Unreadable),
        )
    }
}

/// Moves what the reads of a `dispersed:` target found into the report:
/// faults of readable objects to `share_faults`, the rest counted with the
/// lost objects.
fn take_share_log(repo: &Repository, report: &mut VerifyReport) {
    let (checked, faults) = repo.target().take_share_log();
    if repo.target().sites().is_none() {
        report.shares_checked = report.objects_checked as u64;
        report.lost_shares = report.lost.len() as u64;
        return;
    }
    report.shares_checked = checked;
    let lost: BTreeSet<&str> = report.lost.iter().map(|(n, _)| n.as_str()).collect();
    let mut seen = BTreeSet::new();
    for f in faults {
        if !seen.insert((f.name.clone(), f.site)) {
            continue;
        }
        if lost.contains(f.name.as_str()) {
            report.lost_shares += 1;
        } else {
            report.share_faults.push(f);
        }
    }
    report
        .share_faults
        .sort_by(|a, b| (a.site, &a.name).cmp(&(b.site, &b.name)));
    // An object absent at every site has no share to count as read.
    report.lost_shares += report
        .lost
        .iter()
        .filter(|(_, why)| why.starts_with("no site holds it"))
        .count() as u64
        * 3;
}

pub async fn verify(repo: &Repository) -> Result<VerifyReport> {
    let progress = repo.target().progress().clone();
    let mut report = VerifyReport {
        full: true,
        ..VerifyReport::default()
    };
    let stored: BTreeSet<String> = repo.target().list(DATA).await?.into_iter().collect();
    progress.message("reading snapshots");
    let names = repo.snapshot_names().await?;
    let mut snaps: BTreeMap<String, Snapshot> = BTreeMap::new();
    for n in &names {
        match repo.read_snapshot(n).await {
            Ok(s) => {
                snaps.insert(n.clone(), s);
            }
            Err(e) => {
                if matches!(
                    e,
                    BackupError::Corrupted { .. } | BackupError::SnapshotNotFound { .. }
                ) {
                    report.lost.push((n.clone(), e.to_string()));
                }
                report.problems.push(format!("snapshot {n}: {e}"));
            }
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
        let mut checks = Checks {
            repo,
            stored: &stored,
            chunk_state: &mut chunk_state,
            seg_ok: &mut seg_ok,
            report: &mut report,
            sname,
        };
        let newest = names.last() == Some(sname);
        for t in &snap.tenants {
            for (ledger, chain) in [(true, "ledger"), (false, "access")] {
                let segs = segments_of(&lineage, &t.code, ledger);
                let label = format!("tenant {} {chain}", t.code);
                if let Some(at) = checks.chain(&segs, t.chain(ledger), &label).await
                    && newest
                {
                    checks.report.chains.push((t.code.clone(), chain, at));
                }
            }
        }
        if let Some(c) = &snap.platform_chain {
            let segs = crate::restore::platform_segments(&lineage);
            let head = checks.chain(&segs, c, "the platform's chain").await;
            if newest {
                checks.report.platform = head;
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
    report.objects_checked = chunk_state.len() + names.len();
    for (name, state) in &chunk_state {
        if let Some(p) = state
            && (p.starts_with("MISSING") || p.starts_with("CORRUPTED"))
        {
            report.lost.push((name.clone(), lost_reason(name, p)));
        }
    }
    report.lost.sort();
    let lost: BTreeSet<String> = report.lost.iter().map(|(n, _)| n.clone()).collect();
    (report.unrestorable, report.restorable) = restorability(&names, &snaps, &lost);
    take_share_log(repo, &mut report);
    Ok(report)
}

/// What a full verify carries from chain to chain: objects already checked and the report.
struct Checks<'a> {
    repo: &'a Repository,
    stored: &'a BTreeSet<String>,
    /// Chunks, checked once each: name -> None (ok) or Some(problem).
    chunk_state: &'a mut HashMap<String, Option<String>>,
    /// Segments, decoded once each: chunk ids -> ok?
    seg_ok: &'a mut HashMap<Vec<String>, bool>,
    report: &'a mut VerifyReport,
    sname: &'a str,
}

impl Checks<'_> {
    /// Checks one chain's segments across a lineage (`label`: "tenant 131016 ledger"): each
    /// continues the one before and decodes, and they end at the head the snapshot records.
    /// Answers that head when the chain is whole.
    async fn chain(
        &mut self,
        segs: &[&SegmentRef],
        recorded: &ChainSnapshot,
        label: &str,
    ) -> Option<ChainHead> {
        let sname = self.sname;
        let mut at = ChainHead::EMPTY;
        let mut broken = false;
        for s in segs {
            let what = || {
                format!(
                    "{label} entries {}..{} (snapshot {sname})",
                    s.first_seq, s.last_seq
                )
            };
            if s.first_seq != at.seq + 1 || s.prev_hash != at.hash.to_hex() {
                self.report.problems.push(format!(
                    "{}: does not continue the chain (which ends at entry {} there)",
                    what(),
                    at.seq
                ));
                return None;
            }
            let key: Vec<String> = s.blob.chunks.iter().map(|c| c.id.clone()).collect();
            let ok = match self.seg_ok.get(&key) {
                Some(ok) => *ok,
                None => {
                    let ok = check_segment(
                        self.repo,
                        s,
                        self.stored,
                        self.chunk_state,
                        self.report,
                        what,
                    )
                    .await;
                    self.report.segments += 1;
                    self.seg_ok.insert(key, ok);
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
        if !broken && (at.seq != recorded.head_seq || at.hash.to_hex() != recorded.head_hash) {
            self.report.problems.push(format!(
                "{label} in snapshot {sname}: the segments end at entry {}, \
                 but the snapshot records the head at {}",
                at.seq, recorded.head_seq
            ));
            broken = true;
        }
        (!broken).then_some(at)
    }
}

/// "MISSING data/ab/…" / "CORRUPTED data/ab/…: why" → why, in words.
fn lost_reason(name: &str, problem: &str) -> String {
    if problem.starts_with("MISSING") {
        return "no site holds it (missing)".into();
    }
    problem
        .strip_prefix("CORRUPTED ")
        .and_then(|p| p.strip_prefix(name))
        .map_or(problem, |p| p.trim_start_matches(':').trim())
        .to_string()
}

/// Which snapshots can still be restored whole, given the lost objects.
pub(crate) fn restorability(
    names: &[String],
    snaps: &BTreeMap<String, Snapshot>,
    lost: &BTreeSet<String>,
) -> (Vec<Unrestorable>, Vec<String>) {
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for name in names {
        let mut u = Unrestorable {
            snapshot: name.clone(),
            ..Unrestorable::default()
        };
        if lost.contains(name) || !snaps.contains_key(name) {
            u.needs.push(format!("{name} (the snapshot itself)"));
            bad.push(u);
            continue;
        }
        let lineage = lineage_of(snaps, name);
        if let Some((first, _)) = lineage.first()
            && let Some(p) = snaps.get(first).and_then(|s| s.parent.clone())
        {
            u.needs
                .push(format!("{p} (an older snapshot it continues)"));
        }
        let Some((_, newest)) = lineage.last() else {
            continue;
        };
        if let Some(blob) = &newest.platform {
            for c in &blob.chunks {
                let n = c.object_name();
                if lost.contains(&n) {
                    u.needs.push(format!("{n} (platform data)"));
                }
            }
        }
        if newest.platform_chain.is_some() {
            for seg in crate::restore::platform_segments(&lineage) {
                for c in &seg.blob.chunks {
                    let n = c.object_name();
                    if lost.contains(&n) {
                        u.needs.push(format!(
                            "{n} (the platform's entries {}..{})",
                            seg.first_seq, seg.last_seq
                        ));
                    }
                }
            }
        }
        for t in &newest.tenants {
            let mut tenant_ok = true;
            for (ledger, chain) in [(true, "ledger"), (false, "access log")] {
                for seg in segments_of(&lineage, &t.code, ledger) {
                    for c in &seg.blob.chunks {
                        let n = c.object_name();
                        if lost.contains(&n) {
                            tenant_ok = false;
                            u.needs.push(format!(
                                "{n} (tenant {} {chain} entries {}..{})",
                                t.code, seg.first_seq, seg.last_seq
                            ));
                        }
                    }
                }
            }
            if tenant_ok {
                u.tenants_intact.push(t.code.clone());
            }
        }
        if u.needs.is_empty() {
            good.push(name.clone());
        } else {
            u.needs.dedup();
            bad.push(u);
        }
    }
    (bad, good)
}

/// Every object name under `data/` and `snapshots/` that any site lists.
async fn all_objects(repo: &Repository) -> Result<Vec<String>> {
    let mut names = repo.target().list(DATA).await?;
    names.extend(repo.target().list(SNAPSHOTS).await?);
    names.retain(|n| !n.ends_with('/'));
    names.sort();
    names.dedup();
    Ok(names)
}

/// A random `percent` of the repository's objects (at least one if it has
/// any): what a sampled check reads.
pub async fn sample_objects(repo: &Repository, percent: f64) -> Result<BTreeSet<String>> {
    let mut names = all_objects(repo).await?;
    let want = ((names.len() as f64) * percent.clamp(0.0, 100.0) / 100.0).ceil() as usize;
    names.shuffle(&mut rand::thread_rng());
    names.truncate(want.max(usize::from(!names.is_empty())));
    Ok(names.into_iter().collect())
}

/// A scrub: reads each of `objects` and checks it as a full verify would
/// (every share on a `dispersed:` repository; a chunk authenticates and is
/// the content its id names; a snapshot opens) — without walking chains.
/// Rot is found while the other sites still hold good shares.
pub async fn verify_sample(repo: &Repository, objects: &BTreeSet<String>) -> Result<VerifyReport> {
    let progress = repo.target().progress().clone();
    let mut report = VerifyReport::default();
    progress.set_total(objects.len() as u64);
    for name in objects {
        progress.message(name);
        let problem = if name.starts_with(SNAPSHOTS) {
            report.snapshots += 1;
            match repo.read_snapshot(name).await {
                Ok(_) => None,
                Err(e @ (BackupError::Corrupted { .. } | BackupError::SnapshotNotFound { .. })) => {
                    Some((true, format!("CORRUPTED {name}: {e}")))
                }
                Err(e) => Some((false, format!("UNREADABLE {name}: {e}"))),
            }
        } else {
            report.chunks += 1;
            let id = name.rsplit('/').next().unwrap_or_default().to_string();
            let c = ChunkRef { id, size: 0 };
            let stored: BTreeSet<String> = [name.clone()].into();
            let mut state = HashMap::new();
            check_chunk(repo, &c, name, &stored, &mut state).await;
            state.remove(name).flatten().map(|p| {
                let lost = p.starts_with("MISSING") || p.starts_with("CORRUPTED");
                (lost, p)
            })
        };
        if let Some((lost, p)) = problem {
            if lost {
                report.lost.push((name.clone(), lost_reason(name, &p)));
            }
            report.problems.push(p);
        }
        progress.advance(1);
    }
    report.objects_checked = objects.len();
    if !report.lost.is_empty() {
        // Which snapshots the lost objects take down: the snapshots are
        // small, so all are read to say it.
        let names = repo.snapshot_names().await?;
        let mut snaps = BTreeMap::new();
        for n in &names {
            if let Ok(s) = repo.read_snapshot(n).await {
                snaps.insert(n.clone(), s);
            }
        }
        let lost: BTreeSet<String> = report.lost.iter().map(|(n, _)| n.clone()).collect();
        (report.unrestorable, report.restorable) = restorability(&names, &snaps, &lost);
    }
    take_share_log(repo, &mut report);
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
