//! Restore: the segments of each chain, in order, applied with
//! `TenantStore::apply_segment` (which checks that each continues the chain,
//! is idempotent, and projects ledger entries), then every restored chain is
//! verified. `--at` keeps only entries recorded at or before a time: the
//! segment that straddles it is cut.
//!
//! Nothing is written before every object the restore needs has been read
//! and checked: they are fetched first (each once, still sealed with the
//! repository key) into a spool directory under the system temporary
//! directory, and only if all of them open does applying begin. A
//! repository that has lost an object (on `dispersed:`, fewer than two good
//! shares) refuses the restore naming every lost object, rather than
//! leaving a partial restore behind.

use chrono::{DateTime, Utc};
use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHead, RecordedAt, Segment};
use murakumo_store::SigningKeyRow;
use murakumo_store::{Chain, Operator, Store, StoreError, TenantInfo};

use crate::chains::ChainRef;

use crate::manifest::{BlobRef, ChunkRef, PlatformData, SegmentRef, Snapshot, TenantSnapshot};
use crate::repo::Repository;
use crate::{BackupError, Result};

#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Only this tenant; the others in the target are not touched.
    pub tenant: Option<TenantCode>,
    /// Only entries recorded at or before this time.
    pub at: Option<DateTime<Utc>>,
    /// A snapshot name (default: the newest).
    pub snapshot: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TenantRestored {
    pub code: TenantCode,
    pub name: String,
    pub ledger: ChainHead,
    pub access: ChainHead,
    /// Recording time of the newest entry restored (either chain).
    pub newest: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct RestoreReport {
    pub snapshot: String,
    pub tenants: Vec<TenantRestored>,
    pub entries: u64,
    /// Operators the target did not have before.
    pub operators_added: usize,
    /// The platform's chain as restored, for snapshots that carry it.
    pub platform: Option<ChainHead>,
}

impl RestoreReport {
    /// The newest entry restored, over all tenants.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.tenants.iter().filter_map(|t| t.newest).max()
    }
}

pub async fn restore(
    store: &Store,
    repo: &Repository,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let progress = repo.target().progress().clone();
    let name = match &opts.snapshot {
        Some(n) if n.starts_with(crate::repo::SNAPSHOTS) => n.clone(),
        Some(n) => format!("{}{n}", crate::repo::SNAPSHOTS),
        None => repo
            .snapshot_names()
            .await?
            .pop()
            .ok_or_else(|| BackupError::NoSnapshot { repo: repo.url() })?,
    };
    progress.message("reading snapshots");
    let lineage = repo.lineage(&name).await?;
    let Some((_, newest)) = lineage.last() else {
        return Err(BackupError::NoSnapshot { repo: repo.url() });
    };
    let chosen: Vec<&TenantSnapshot> = match &opts.tenant {
        Some(code) => vec![
            newest
                .tenant(code.as_str())
                .ok_or_else(|| BackupError::TenantNotInBackup(code.to_string()))?,
        ],
        None => newest.tenants.iter().collect(),
    };
    let total: u64 = chosen
        .iter()
        .flat_map(|t| [true, false].map(|l| segments_of(&lineage, &t.code, l)))
        .flatten()
        .map(|s| s.blob.size)
        .sum();
    progress.set_total(total);

    // Fetch and check everything first: a lost object refuses the restore
    // before anything is written.
    let mut needed: Vec<(&ChunkRef, String)> = Vec::new();
    let at_us = opts.at.map(|t| RecordedAt::from_datetime(t).0);
    // The platform's records go with a restore of every tenant: its chain, or for a snapshot
    // of a version before it, the platform data blob.
    let platform_segs = platform_segments(&lineage);
    if opts.tenant.is_none() {
        if newest.platform_chain.is_some() {
            for s in platform_segs
                .iter()
                .take_while(|s| at_us.is_none_or(|a| s.first_recorded_at <= a))
            {
                needed.extend(s.blob.chunks.iter().map(|c| {
                    (
                        c,
                        format!("the platform's entries {}..{}", s.first_seq, s.last_seq),
                    )
                }));
            }
        } else if let Some(blob) = &newest.platform {
            needed.extend(blob.chunks.iter().map(|c| (c, "platform data".to_string())));
        }
    }
    for t in &chosen {
        for (ledger, chain) in [(true, "ledger"), (false, "access log")] {
            for s in segments_of(&lineage, &t.code, ledger) {
                if at_us.is_some_and(|a| s.first_recorded_at > a) {
                    break;
                }
                needed.extend(s.blob.chunks.iter().map(|c| {
                    (
                        c,
                        format!(
                            "tenant {} {chain} entries {}..{}",
                            t.code, s.first_seq, s.last_seq
                        ),
                    )
                }));
            }
        }
    }
    let spool = Spool::create()?;
    let mut lost: Vec<String> = Vec::new();
    let mut fetched = std::collections::HashSet::new();
    progress.message("fetching and checking");
    for (c, what) in needed {
        if !fetched.insert(c.id.clone()) {
            continue;
        }
        let name = c.object_name();
        let sealed = match repo.target().read(&name).await {
            Ok(Some(sealed)) => sealed,
            Ok(None) => {
                lost.push(format!("  MISSING {name} — needed for {what}"));
                continue;
            }
            Err(BackupError::Corrupted { reason, .. }) => {
                lost.push(format!("  CORRUPTED {name} — needed for {what}: {reason}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = repo.open_chunk(&name, &c.id, &sealed) {
            lost.push(format!("  CORRUPTED {name} — needed for {what}: {e}"));
            continue;
        }
        spool.put(&c.id, &sealed)?;
        progress.advance(c.size);
    }
    if !lost.is_empty() {
        return Err(BackupError::Lost {
            repo: repo.url(),
            snapshot: name,
            count: lost.len(),
            list: lost.join("\n"),
        });
    }

    let mut report = RestoreReport {
        snapshot: name.clone(),
        tenants: Vec::new(),
        entries: 0,
        operators_added: 0,
        platform: None,
    };
    let operators_before = store.operators_all().await?.len();
    if opts.tenant.is_none() && newest.platform_chain.is_some() {
        progress.message("the platform's chain");
        let target = ChainRef::Platform(store.platform_chain());
        let (head, _) = restore_chain(
            repo,
            &spool,
            &target,
            &platform_segs,
            at_us,
            &mut report.entries,
        )
        .await
        .map_err(|e| match e {
            BackupError::Store(StoreError::Conflict(detail)) => BackupError::Refuse(format!(
                "the platform's chain here holds operators or 県版 settings that are not \
                         in the backup ({detail}); restore into an empty data directory or database"
            )),
            e => e,
        })?;
        report.platform = Some(head);
    } else if opts.tenant.is_none()
        && let Some(blob) = &newest.platform
    {
        progress.message("platform data");
        let bytes = spool.blob(repo, blob)?;
        let p: PlatformData =
            serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupted {
                repo: repo.url(),
                name: "platform data".into(),
                reason: e.to_string(),
            })?;
        for (pref, key, value) in &p.prefecture_settings {
            let current = store.prefecture_settings(pref).await?;
            if !current.iter().any(|(k, v)| k == key && v == value) {
                store
                    .set_prefecture_setting(pref, key, Some(value), "system:restore")
                    .await?;
            }
        }
        for o in &p.operators {
            store
                .import_operator(
                    &Operator {
                        operator_id: o.operator_id.clone(),
                        login: o.login.clone(),
                        display_name: o.display_name.clone(),
                        password_hash: o.password_hash.clone(),
                    },
                    "system:restore",
                )
                .await?;
        }
    }
    report.operators_added = store
        .operators_all()
        .await?
        .len()
        .saturating_sub(operators_before);

    for t in chosen {
        if let Some(r) = restore_tenant(
            store,
            repo,
            &spool,
            &lineage,
            t,
            opts.at,
            &mut report.entries,
        )
        .await?
        {
            report.tenants.push(r);
        }
    }
    Ok(report)
}

/// Every segment of one chain of one tenant, in order, across a lineage.
pub(crate) fn segments_of<'a>(
    lineage: &'a [(String, Snapshot)],
    code: &str,
    ledger: bool,
) -> Vec<&'a SegmentRef> {
    lineage
        .iter()
        .filter_map(|(_, s)| s.tenant(code))
        .flat_map(|t| t.chain(ledger).segments.iter())
        .collect()
}

/// Every segment of the platform's chain, in order, across a lineage.
pub(crate) fn platform_segments(lineage: &[(String, Snapshot)]) -> Vec<&SegmentRef> {
    lineage
        .iter()
        .filter_map(|(_, s)| s.platform_chain.as_ref())
        .flat_map(|c| c.segments.iter())
        .collect()
}

async fn restore_tenant(
    store: &Store,
    repo: &Repository,
    spool: &Spool,
    lineage: &[(String, Snapshot)],
    t: &TenantSnapshot,
    at: Option<DateTime<Utc>>,
    entries: &mut u64,
) -> Result<Option<TenantRestored>> {
    let progress = repo.target().progress().clone();
    let bad = |reason: String| BackupError::BadRepository {
        repo: repo.url(),
        reason,
    };
    let code =
        TenantCode::parse(&t.code).map_err(|e| bad(format!("tenant code {}: {e}", t.code)))?;
    let at_us = at.map(|t| RecordedAt::from_datetime(t).0);
    let ledger_segs = segments_of(lineage, &t.code, true);
    // A tenant with nothing recorded by `at` did not exist yet.
    if let Some(at) = at_us
        && ledger_segs.first().is_none_or(|s| s.first_recorded_at > at)
    {
        return Ok(None);
    }
    let ts = store.tenant(&code);
    if ts.exists().await? && at.is_some() && ts.head(Chain::Ledger).await?.seq > 0 {
        // Applying can only append; it cannot take a chain back in time.
        let held = ts.head(Chain::Ledger).await?.seq;
        let wanted = ledger_segs
            .iter()
            .take_while(|s| at_us.is_none_or(|a| s.first_recorded_at <= a))
            .last()
            .map_or(0, |s| s.last_seq);
        if held > wanted {
            return Err(BackupError::Refuse(format!(
                "tenant {code} already holds ledger entries recorded after the --at time \
                 ({held} entries here); a point-in-time restore goes into an empty data directory \
                 (or a database without that tenant)"
            )));
        }
    }
    store
        .ensure_tenant_shell(&TenantInfo {
            code,
            name: t.name.clone(),
            prefecture_code: t.prefecture_code.clone(),
            created_at: RecordedAt(t.created_at).to_datetime(),
        })
        .await?;
    let mut newest: Option<i64> = None;
    let mut heads = [ChainHead::EMPTY; 2];
    for (i, chain) in [Chain::Ledger, Chain::Access].into_iter().enumerate() {
        progress.message(&format!("{code} {}", chain.name()));
        let segs = segments_of(lineage, &t.code, chain == Chain::Ledger);
        let target = ChainRef::Tenant(store.tenant(&code), chain);
        let (head, last) = restore_chain(repo, spool, &target, &segs, at_us, entries).await?;
        heads[i] = head;
        newest = newest.max(last);
    }
    for k in &t.signing_keys {
        let bytes = |hex_text: &str, what: &str| {
            hex::decode(hex_text)
                .map_err(|e| bad(format!("signing key {} of {code}: {what}: {e}", k.key_id)))
        };
        // A snapshot of an older version: the key joins the chains as it would have.
        ts.adopt_signing_key(
            "system:restore",
            &SigningKeyRow {
                key_id: k.key_id.clone(),
                public_key: bytes(&k.public_key, "public key")?,
                secret_key: bytes(&k.secret_key, "secret key")?,
                created_at: k.created_at,
                retired_at: k.retired_at,
                site: k.site.clone(),
            },
        )
        .await?;
    }
    Ok(Some(TenantRestored {
        code,
        name: t.name.clone(),
        ledger: heads[0],
        access: heads[1],
        newest: newest.map(|n| RecordedAt(n).to_datetime()),
    }))
}

/// Applies the segments of one chain to `target` in order — of the segment that straddles
/// `at_us`, only the entries recorded by then — and verifies the chain. Answers its head and
/// the recording time of the newest entry applied.
async fn restore_chain(
    repo: &Repository,
    spool: &Spool,
    target: &ChainRef<'_>,
    segs: &[&SegmentRef],
    at_us: Option<i64>,
    entries: &mut u64,
) -> Result<(ChainHead, Option<i64>)> {
    let progress = repo.target().progress().clone();
    let mut newest: Option<i64> = None;
    for s in segs {
        if at_us.is_some_and(|a| s.first_recorded_at > a) {
            break;
        }
        let bytes = spool.blob(repo, &s.blob)?;
        let mut seg = Segment::decode(&bytes)?;
        if seg.header.first_seq != s.first_seq
            || seg.header.last_seq != s.last_seq
            || seg.header.last_hash.to_hex() != s.last_hash
        {
            return Err(BackupError::BadRepository {
                repo: repo.url(),
                reason: format!(
                    "segment {}..{} of {} is not the one its snapshot names",
                    s.first_seq,
                    s.last_seq,
                    target.owner()
                ),
            });
        }
        let mut cut = false;
        if let Some(a) = at_us
            && s.last_recorded_at > a
        {
            let kept: Vec<_> = seg
                .entries
                .into_iter()
                .take_while(|e| e.recorded_at.0 <= a)
                .collect();
            if kept.is_empty() {
                break;
            }
            seg = Segment::new(kept)?;
            cut = true;
        }
        if let Some(last) = seg.entries.last() {
            newest = newest.max(Some(last.recorded_at.0));
        }
        *entries += seg.entries.len() as u64;
        target.apply_segment(&seg).await?;
        if cut {
            break;
        }
    }
    progress.message(&format!(
        "verifying {} {}",
        target.owner(),
        target.chain().name()
    ));
    Ok((target.verify().await?, newest))
}

/// The objects a restore needs, fetched and checked before anything is
/// written; still sealed with the repository key (so nothing readable
/// lands in the temporary directory), removed when dropped.
struct Spool {
    dir: std::path::PathBuf,
}

impl Spool {
    fn create() -> Result<Spool> {
        let mut r = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut r);
        let dir = std::env::temp_dir().join(format!(
            "murakumo-restore-{}-{}",
            std::process::id(),
            hex::encode(r)
        ));
        let io = |action: String| {
            move |source| BackupError::Io {
                action: action.clone(),
                source,
            }
        };
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir).map_err(io(format!(
            "creating the restore spool {} (set TMPDIR to a directory with room for the \
             backup's size)",
            dir.display()
        )))?;
        Ok(Spool { dir })
    }

    fn put(&self, id: &str, sealed: &[u8]) -> Result<()> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(BackupError::Refuse(format!(
                "a snapshot names a chunk {id:?}, which is not a chunk id"
            )));
        }
        let path = self.dir.join(id);
        std::fs::write(&path, sealed).map_err(|source| BackupError::Io {
            action: format!(
                "writing {} to the restore spool (set TMPDIR to a directory with room)",
                path.display()
            ),
            source,
        })
    }

    /// A blob from the spooled chunks (each opened and checked again).
    fn blob(&self, repo: &Repository, b: &BlobRef) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(b.size).unwrap_or(0));
        for c in &b.chunks {
            let path = self.dir.join(&c.id);
            let sealed = std::fs::read(&path).map_err(|source| BackupError::Io {
                action: format!("reading {} from the restore spool", path.display()),
                source,
            })?;
            out.extend_from_slice(&repo.open_chunk(&c.object_name(), &c.id, &sealed)?);
        }
        if out.len() as u64 != b.size {
            return Err(BackupError::BadRepository {
                repo: repo.url(),
                reason: format!(
                    "a blob is {} bytes, its snapshot says {}",
                    out.len(),
                    b.size
                ),
            });
        }
        Ok(out)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
