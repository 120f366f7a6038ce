//! Restore: the segments of each chain, in order, applied with
//! `TenantStore::apply_segment` (which checks that each continues the chain,
//! is idempotent, and projects ledger entries), then every restored chain is
//! verified. `--at` keeps only entries recorded at or before a time: the
//! segment that straddles it is cut.

use chrono::{DateTime, Utc};
use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHead, RecordedAt, Segment};
use murakumo_store::SigningKeyRow;
use murakumo_store::{Chain, Operator, Store, TenantInfo};

use crate::manifest::{PlatformData, SegmentRef, Snapshot, TenantSnapshot};
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
    pub operators_added: usize,
    pub prefecture_settings: usize,
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

    let mut report = RestoreReport {
        snapshot: name.clone(),
        tenants: Vec::new(),
        entries: 0,
        operators_added: 0,
        prefecture_settings: 0,
    };
    if opts.tenant.is_none()
        && let Some(blob) = &newest.platform
    {
        progress.message("platform data");
        let bytes = repo.get_blob(blob).await?;
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
            report.prefecture_settings += 1;
        }
        for o in &p.operators {
            let added = store
                .import_operator(&Operator {
                    operator_id: o.operator_id.clone(),
                    login: o.login.clone(),
                    display_name: o.display_name.clone(),
                    password_hash: o.password_hash.clone(),
                })
                .await?;
            report.operators_added += usize::from(added);
        }
    }

    for t in chosen {
        if let Some(r) =
            restore_tenant(store, repo, &lineage, t, opts.at, &mut report.entries).await?
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

async fn restore_tenant(
    store: &Store,
    repo: &Repository,
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
        for s in segments_of(lineage, &t.code, chain == Chain::Ledger) {
            if at_us.is_some_and(|a| s.first_recorded_at > a) {
                break;
            }
            let bytes = repo.get_blob(&s.blob).await?;
            let mut seg = Segment::decode(&bytes)?;
            if seg.header.first_seq != s.first_seq
                || seg.header.last_seq != s.last_seq
                || seg.header.last_hash.to_hex() != s.last_hash
            {
                return Err(bad(format!(
                    "segment {}..{} of tenant {code} is not the one its snapshot names",
                    s.first_seq, s.last_seq
                )));
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
                newest = Some(newest.map_or(last.recorded_at.0, |n| n.max(last.recorded_at.0)));
            }
            *entries += seg.entries.len() as u64;
            ts.apply_segment(chain, &seg).await?;
            if cut {
                break;
            }
        }
        progress.message(&format!("verifying {code} {}", chain.name()));
        heads[i] = ts.verify(chain).await?;
    }
    for k in &t.signing_keys {
        let bytes = |hex_text: &str, what: &str| {
            hex::decode(hex_text)
                .map_err(|e| bad(format!("signing key {} of {code}: {what}: {e}", k.key_id)))
        };
        ts.restore_signing_key(&SigningKeyRow {
            key_id: k.key_id.clone(),
            public_key: bytes(&k.public_key, "public key")?,
            secret_key: bytes(&k.secret_key, "secret key")?,
            created_at: k.created_at,
            retired_at: k.retired_at,
            site: k.site.clone(),
        })
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
