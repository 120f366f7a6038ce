//! `murakumo verify --repair`: a `dispersed:` repository that heals itself.
//!
//! For every object any site lists (chunks first, then snapshots, then
//! `config`), the three sites' shares are read and given to
//! `murakumo_dispersal::rebuild`, which restores the object from two shares
//! that authenticate together and gives back all three shares **as the
//! original split made them**. Every site whose share is missing, damaged,
//! altered, left over from an interrupted write, or labelled for another
//! site gets that share written back — and only those sites: a site that was
//! wiped and replaced by an empty one is refilled with exactly its own
//! shares, and nothing is sent to the two that are intact.
//!
//! Invariants:
//! - **All three sites must answer** before anything is written: a repair
//!   that skipped a site would report success while the repository still
//!   depends on two. An unreachable site is a refusal naming it.
//! - **A share is rebuilt only from two that authenticate** (the AEAD over
//!   the whole object), never from a damaged or forged one; an object with
//!   fewer than two good shares is reported lost, never guessed.
//! - **Every write is whole or detectably not**: `file://` writes a
//!   temporary file, fsyncs and renames; every share written is read back
//!   and compared (BLAKE3) before it counts. A half share left by kill -9 is
//!   never taken as good (it fails its own hash), so a rerun finishes the
//!   job: repair is idempotent and resumable.
//!
//! What this does not do: re-split objects (the two intact sites would have
//! to be rewritten), or repair plain `file://`/`webdav://`/`murakumo://`
//! repositories, which have no second copy to repair from.

use std::collections::BTreeSet;

use crate::dispersed::{self, FaultKind, Held, ShareFault};
use crate::repo::{CONFIG, DATA, Repository, SNAPSHOTS};
use crate::{BackupError, Result};

/// What a repair did.
#[derive(Clone, Debug, Default)]
pub struct RepairReport {
    /// The three sites' URLs.
    pub sites: Vec<String>,
    /// Objects looked at.
    pub objects: u64,
    /// Shares looked at (three per object).
    pub shares_checked: u64,
    /// Every share that was rebuilt and written back, with what was wrong.
    pub rebuilt: Vec<ShareFault>,
    /// Bytes written to the sites (shares and `config`).
    pub bytes_written: u64,
    /// Objects fewer than two sites hold a good share of, and why: nothing
    /// can rebuild them.
    pub lost: Vec<(String, String)>,
}

impl RepairReport {
    /// Shares rebuilt at site `site` (1..=3): (missing, corrupted).
    pub fn rebuilt_at(&self, site: usize) -> (u64, u64) {
        let at = self.rebuilt.iter().filter(|f| f.site == site);
        let missing = at.clone().filter(|f| f.kind == FaultKind::Missing).count() as u64;
        (missing, at.count() as u64 - missing)
    }
}

/// Rebuilds every missing or bad share of a `dispersed:` repository (or, with
/// `only`, of those objects: a sampled scrub) and writes it back to its site.
pub async fn repair(repo: &Repository, only: Option<&BTreeSet<String>>) -> Result<RepairReport> {
    let target = repo.target();
    let Some(sites) = target.sites() else {
        return Err(BackupError::NotDispersed { repo: repo.url() });
    };
    let progress = target.progress().clone();
    let mut report = RepairReport {
        sites: sites.iter().map(|s| s.location().to_string()).collect(),
        ..RepairReport::default()
    };

    // Every site must answer before anything is written; what each lists
    // tells which shares it lacks without asking for each.
    progress.message("listing the three sites");
    let mut listed: Vec<BTreeSet<String>> = Vec::new();
    for (i, s) in sites.iter().enumerate() {
        let unreachable = |e: BackupError| BackupError::SiteUnreachable {
            repo: repo.url(),
            site: i + 1,
            location: s.location().to_string(),
            reason: e.to_string(),
        };
        let mut names: BTreeSet<String> = BTreeSet::new();
        for prefix in [DATA, SNAPSHOTS] {
            names.extend(Box::pin(s.list(prefix)).await.map_err(unreachable)?);
        }
        Box::pin(s.stat(CONFIG)).await.map_err(unreachable)?;
        listed.push(names);
    }
    let mut names: Vec<String> = listed
        .iter()
        .flatten()
        .filter(|n| !n.ends_with('/'))
        .filter(|n| only.is_none_or(|o| o.contains(*n)))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Chunks first, snapshots after them (as a backup writes them).
    names.sort_by_key(|n| (n.starts_with(SNAPSHOTS), n.clone()));
    progress.set_total(names.len() as u64 + 1);

    for name in &names {
        progress.message(name);
        let mut held = [Held::Absent, Held::Absent, Held::Absent];
        for (i, s) in sites.iter().enumerate() {
            if !listed[i].contains(name) {
                continue;
            }
            let bytes = Box::pin(s.read(name))
                .await
                .map_err(|e| BackupError::SiteUnreachable {
                    repo: repo.url(),
                    site: i + 1,
                    location: s.location().to_string(),
                    reason: e.to_string(),
                })?;
            held[i] = Held::parse(i, bytes);
        }
        report.objects += 1;
        report.shares_checked += 3;
        let (rebuilt, faults) = dispersed::check(sites, name, &held);
        match rebuilt {
            Ok(r) => {
                for f in faults {
                    let bytes = r.shares[f.site - 1].to_bytes();
                    Box::pin(sites[f.site - 1].write_verified(name, &bytes)).await?;
                    report.bytes_written += bytes.len() as u64;
                    report.rebuilt.push(f);
                }
            }
            Err(why) => report.lost.push((name.clone(), why)),
        }
        progress.advance(1);
    }

    // The config last: a refilled site is whole once it has it.
    progress.message(CONFIG);
    let config = repo.config_bytes();
    for (i, s) in sites.iter().enumerate() {
        let held = Box::pin(s.read(CONFIG)).await?;
        if held.as_deref() != Some(config) {
            Box::pin(s.write_verified(CONFIG, config)).await?;
            report.bytes_written += config.len() as u64;
            report.rebuilt.push(ShareFault {
                name: CONFIG.into(),
                site: i + 1,
                location: s.location().to_string(),
                kind: if held.is_none() {
                    FaultKind::Missing
                } else {
                    FaultKind::Corrupted
                },
                detail: String::new(),
            });
        }
    }
    progress.advance(1);
    // What earlier reads (opening the repository) found is repaired now.
    let _ = target.take_share_log();
    Ok(report)
}
