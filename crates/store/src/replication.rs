//! What this database is in a replicated platform: its role and epoch
//! (fencing), the peers it knows, the node-local outbox of a node that may
//! not append to tenant chains, and the receipts a primary keeps of outbox
//! items it appended (so a replay is idempotent).
//!
//! Fencing: every primary has an epoch; `promote` takes a new one (one above
//! every epoch this node has seen). A primary that learns of a higher epoch
//! (a peer answers with it, a follower pulls with it, the new primary tells
//! it) turns itself `fenced` in the database and from then on every append
//! is refused inside its own transaction, so an old primary that comes back
//! cannot extend — and so cannot fork — any chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, NewEntry, RecordedAt};
use sqlx::{Any, Row, Transaction};

use crate::backend::Scope;
use crate::outbox::CheckedOutboxItem;
use crate::rows::{Chain, date_str, parse_date};
use crate::tenant::append_in;
use crate::{Store, StoreError, TenantStore, projection};

/// 役割: what this node does with tenant chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Appends to tenant chains (the data centre).
    Primary,
    /// Receives segments from a primary (another data centre).
    Replica,
    /// 利用拠点バックアップ: receives segments; issues certificates into its
    /// outbox while the centre is unreachable.
    Fallback,
    /// A former primary that learnt of a newer epoch: refuses every write.
    Fenced,
}

impl NodeRole {
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Primary => "primary",
            NodeRole::Replica => "replica",
            NodeRole::Fallback => "fallback",
            NodeRole::Fenced => "fenced",
        }
    }

    fn parse(s: &str) -> Option<NodeRole> {
        Some(match s {
            "primary" => NodeRole::Primary,
            "replica" => NodeRole::Replica,
            "fallback" => NodeRole::Fallback,
            "fenced" => NodeRole::Fenced,
            _ => return None,
        })
    }
}

/// The highest epoch a node takes or accepts: `node_state.epoch` is a
/// signed 64-bit column on both backends. An epoch above it (or one that
/// could not be raised by a promotion) is refused, never wrapped.
pub const MAX_EPOCH: u64 = i64::MAX as u64;

fn epoch_out_of_range(epoch: u64, source: &str) -> StoreError {
    StoreError::Conflict(format!(
        "epoch {epoch} (from {source}) is beyond the highest epoch a node can hold ({MAX_EPOCH}): refused; \
         a primary that claims it is broken or hostile"
    ))
}

/// The one row of `node_state`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeState {
    pub role: NodeRole,
    /// The fencing epoch: the newest primary generation this node knows.
    pub epoch: u64,
    /// The primary this node follows (or followed before promotion).
    pub primary_url: Option<String>,
    /// Why the state is what it is (e.g. who fenced this node).
    pub note: Option<String>,
}

/// An entry waiting in the outbox.
#[derive(Clone, Debug)]
pub struct OutboxItem {
    pub tenant: TenantCode,
    pub id: u64,
    pub chain: Chain,
    pub dedupe_key: String,
    pub entry: NewEntry,
    pub created_at: RecordedAt,
}

/// What replaying one outbox item on the primary did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Appended now, at this sequence number.
    Appended(u64),
    /// Appended before (same dedupe key), at this sequence number.
    AlreadyHeld(u64),
}

/// What this process has committed to each chain (tenant, chain) →
/// (head seq, recorded time), and a generation counter that ticks on every
/// commit: long-polling followers wait on it, and synchronous mode compares
/// it with what a follower has acknowledged.
#[derive(Default)]
pub struct AppendWatch {
    heads: Mutex<HashMap<(TenantCode, Chain), (u64, i64)>>,
    generation: std::sync::OnceLock<tokio::sync::watch::Sender<u64>>,
}

impl AppendWatch {
    fn sender(&self) -> &tokio::sync::watch::Sender<u64> {
        self.generation
            .get_or_init(|| tokio::sync::watch::channel(0).0)
    }

    pub(crate) fn committed(&self, tenant: TenantCode, chain: Chain, seq: u64, at: i64) {
        if let Ok(mut h) = self.heads.lock() {
            let e = h.entry((tenant, chain)).or_insert((0, at));
            if seq > e.0 {
                *e = (seq, at);
            }
        }
        self.sender().send_modify(|g| *g += 1);
    }

    /// Heads committed by this process so far.
    pub fn heads(&self) -> HashMap<(TenantCode, Chain), (u64, i64)> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// A receiver that wakes on every commit.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sender().subscribe()
    }
}

pub(crate) type SharedWatch = Arc<AppendWatch>;

fn read_state(row: &sqlx::any::AnyRow) -> Result<NodeState, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(NodeState {
        role: NodeRole::parse(&role).ok_or_else(|| {
            StoreError::Conflict(format!("node_state holds an unknown role {role:?}"))
        })?,
        epoch: row.try_get::<i64, _>("epoch")? as u64,
        primary_url: row.try_get("primary_url")?,
        note: row.try_get("note")?,
    })
}

pub(crate) async fn state_in(tx: &mut Transaction<'static, Any>) -> Result<NodeState, StoreError> {
    let row = sqlx::query("SELECT role, epoch, primary_url, note FROM node_state WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    read_state(&row)
}

/// Refuses (inside the caller's transaction) unless this node is primary.
pub(crate) async fn require_primary(tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
    let s = state_in(tx).await?;
    if s.role == NodeRole::Primary {
        Ok(())
    } else {
        Err(StoreError::NotPrimary {
            role: s.role.name(),
            epoch: s.epoch,
        })
    }
}

impl Store {
    /// The replication state of this database.
    pub async fn node_state(&self) -> Result<NodeState, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let s = state_in(&mut tx).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn write_state(
        &self,
        change: impl FnOnce(&NodeState) -> Result<Option<NodeState>, StoreError>,
    ) -> Result<(NodeState, bool), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        // Lock the row first (as appends lock chain heads).
        sqlx::query("UPDATE node_state SET epoch = epoch WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let now = state_in(&mut tx).await?;
        let Some(next) = change(&now)? else {
            tx.commit().await?;
            return Ok((now, false));
        };
        sqlx::query(
            "UPDATE node_state SET role = $1, epoch = $2, primary_url = $3, note = $4, updated_at = $5 WHERE id = 1",
        )
        .bind(next.role.name())
        .bind(next.epoch as i64)
        .bind(next.primary_url.clone())
        .bind(next.note.clone())
        .bind(RecordedAt::now().0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((next, true))
    }

    /// Makes this database a follower (replica or fallback) of `primary_url`.
    pub async fn set_following(
        &self,
        role: NodeRole,
        primary_url: &str,
    ) -> Result<NodeState, StoreError> {
        if !matches!(role, NodeRole::Replica | NodeRole::Fallback) {
            return Err(StoreError::Conflict(format!(
                "a follower is a replica or a fallback node, not {}",
                role.name()
            )));
        }
        let url = primary_url.to_string();
        Ok(self
            .write_state(|s| {
                Ok(Some(NodeState {
                    role,
                    epoch: s.epoch,
                    primary_url: Some(url),
                    note: match s.role {
                        NodeRole::Primary | NodeRole::Fenced => {
                            Some(format!("was {} at epoch {}", s.role.name(), s.epoch))
                        }
                        _ => s.note.clone(),
                    },
                }))
            })
            .await?
            .0)
    }

    /// 昇格: this node becomes the primary, with an epoch above every one it
    /// has seen. Returns the new state.
    pub async fn promote(&self) -> Result<NodeState, StoreError> {
        let (s, _) = self
            .write_state(|s| {
                if s.role == NodeRole::Primary {
                    return Ok(None);
                }
                let epoch = s.epoch.checked_add(1).filter(|e| *e <= MAX_EPOCH).ok_or_else(|| {
                    StoreError::Conflict(format!(
                        "this node has seen epoch {}, the highest a node can hold: a promotion cannot take a \
                         higher one, so it is refused (nothing was changed). An epoch this high comes from a \
                         broken or hostile primary; start the node from a fresh database and follow a primary \
                         you trust",
                        s.epoch
                    ))
                })?;
                Ok(Some(NodeState {
                    role: NodeRole::Primary,
                    epoch,
                    primary_url: s.primary_url.clone(),
                    note: Some(format!(
                        "promoted from {} at epoch {}",
                        s.role.name(),
                        s.epoch
                    )),
                }))
            })
            .await?;
        Ok(s)
    }

    /// Takes note of an epoch seen elsewhere. A primary with a lower epoch
    /// fences itself; any node remembers the highest epoch. Returns the
    /// state and whether it changed.
    pub async fn observe_epoch(
        &self,
        epoch: u64,
        source: &str,
    ) -> Result<(NodeState, bool), StoreError> {
        if epoch > MAX_EPOCH {
            return Err(epoch_out_of_range(epoch, source));
        }
        let source = source.to_string();
        self.write_state(|s| {
            if epoch <= s.epoch {
                return Ok(None);
            }
            Ok(Some(NodeState {
                role: if matches!(s.role, NodeRole::Primary) {
                    NodeRole::Fenced
                } else {
                    s.role
                },
                epoch,
                primary_url: s.primary_url.clone(),
                note: Some(format!(
                    "epoch {epoch} seen at {source} while this node was {} at epoch {}",
                    s.role.name(),
                    s.epoch
                )),
            }))
        })
        .await
    }

    /// 切替: a follower moves to a new primary (the old one was lost or
    /// fenced and `url` answered as primary at `epoch`). The role stays
    /// (replica or fallback); the epoch never goes down. Returns the new
    /// state.
    pub async fn switch_primary(&self, url: &str, epoch: u64) -> Result<NodeState, StoreError> {
        if epoch > MAX_EPOCH {
            return Err(epoch_out_of_range(epoch, url));
        }
        let url = url.to_string();
        let (s, _) = self
            .write_state(|s| {
                if !matches!(s.role, NodeRole::Replica | NodeRole::Fallback) {
                    return Ok(None);
                }
                Ok(Some(NodeState {
                    role: s.role,
                    epoch: s.epoch.max(epoch),
                    primary_url: Some(url.clone()),
                    note: Some(format!(
                        "switched to the primary {url} (epoch {epoch}) from {}",
                        s.primary_url.as_deref().unwrap_or("none")
                    )),
                }))
            })
            .await?;
        if s.primary_url.as_deref() != Some(url.as_str()) {
            return Err(StoreError::Conflict(format!(
                "this node is a {} now, not a follower: it cannot switch to {url}",
                s.role.name()
            )));
        }
        Ok(s)
    }

    /// Remembers a peer (a follower that pulled, a primary followed).
    pub async fn record_peer(&self, url: &str) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query(
            "INSERT INTO node_peers (url, last_seen) VALUES ($1, $2) \
             ON CONFLICT (url) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(url)
        .bind(RecordedAt::now().0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn peers(&self) -> Result<Vec<String>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query("SELECT url FROM node_peers ORDER BY url")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| Ok(r.try_get("url")?))
            .collect::<Result<_, StoreError>>()
    }

    /// Commits of this process, for long polls and synchronous mode.
    pub fn append_watch(&self) -> &AppendWatch {
        &self.appended
    }
}

fn outbox_item(tenant: &TenantCode, r: &sqlx::any::AnyRow) -> Result<OutboxItem, StoreError> {
    let chain: String = r.try_get("chain")?;
    let date: String = r.try_get("effective_date")?;
    let id: i64 = r.try_get("id")?;
    let corrupt = |reason: &str| StoreError::Corrupt {
        owner: (*tenant).into(),
        seq: id as u64,
        reason: format!("outbox item: {reason}"),
    };
    Ok(OutboxItem {
        tenant: *tenant,
        id: id as u64,
        chain: Chain::from_name(&chain).ok_or_else(|| corrupt("unknown chain"))?,
        dedupe_key: r.try_get("dedupe_key")?,
        entry: NewEntry {
            kind: r.try_get("kind")?,
            version: u16::try_from(r.try_get::<i64, _>("version")?)
                .map_err(|_| corrupt("version out of range"))?,
            effective_date: parse_date(&date).ok_or_else(|| corrupt("bad date"))?,
            actor: r.try_get("actor")?,
            payload: r.try_get("payload")?,
        },
        created_at: RecordedAt(r.try_get("created_at")?),
    })
}

impl TenantStore<'_> {
    /// Puts an entry into the node-local outbox (never into the tenant
    /// chain). A second push with the same key is a no-op. Returns its id.
    pub async fn outbox_push(
        &self,
        chain: Chain,
        dedupe_key: &str,
        entry: &NewEntry,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin(true).await?;
        let existing =
            sqlx::query("SELECT id FROM outbox WHERE tenant_code = $1 AND dedupe_key = $2")
                .bind(self.tenant.as_str())
                .bind(dedupe_key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(r) = existing {
            tx.commit().await?;
            return Ok(r.try_get::<i64, _>("id")? as u64);
        }
        let id: i64 = sqlx::query(
            "SELECT COALESCE(MAX(id), 0) + 1 AS next FROM outbox WHERE tenant_code = $1",
        )
        .bind(self.tenant.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("next")?;
        sqlx::query(
            "INSERT INTO outbox (tenant_code, id, chain, dedupe_key, kind, version, effective_date, actor, payload, created_at, sent_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(chain.name())
        .bind(dedupe_key)
        .bind(entry.kind.as_str())
        .bind(i64::from(entry.version))
        .bind(date_str(entry.effective_date))
        .bind(entry.actor.as_str())
        .bind(entry.payload.clone())
        .bind(RecordedAt::now().0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id as u64)
    }

    /// Outbox items not yet replayed to the primary, oldest first.
    pub async fn outbox_pending(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT id, chain, dedupe_key, kind, version, effective_date, actor, payload, created_at \
             FROM outbox WHERE tenant_code = $1 AND sent_seq IS NULL ORDER BY id LIMIT $2",
        )
        .bind(self.tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(|r| outbox_item(&self.tenant, r)).collect()
    }

    /// (pending, replayed) outbox items of this tenant.
    pub async fn outbox_counts(&self) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin(false).await?;
        let r = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN sent_seq IS NULL THEN 1 ELSE 0 END), 0) AS pending, \
                    COALESCE(SUM(CASE WHEN sent_seq IS NULL THEN 0 ELSE 1 END), 0) AS sent \
             FROM outbox WHERE tenant_code = $1",
        )
        .bind(self.tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((
            r.try_get::<i64, _>("pending")? as u64,
            r.try_get::<i64, _>("sent")? as u64,
        ))
    }

    /// Marks an outbox item as held by the primary at `seq`.
    pub async fn outbox_mark_sent(&self, id: u64, seq: u64) -> Result<(), StoreError> {
        let mut tx = self.begin(true).await?;
        sqlx::query("UPDATE outbox SET sent_seq = $1 WHERE tenant_code = $2 AND id = $3")
            .bind(seq as i64)
            .bind(self.tenant.as_str())
            .bind(id as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// On the primary: appends an item of a follower's outbox — decoded and
    /// checked before ([`CheckedOutboxItem::check`]) — unless one with the
    /// same key was appended before, in one transaction (the chain head is
    /// locked first, so two replays of one item cannot both append). A
    /// certificate must be signed with the replaying site's own key.
    pub async fn append_once(&self, item: CheckedOutboxItem) -> Result<Replayed, StoreError> {
        let (chain, dedupe_key) = (item.chain(), item.dedupe_key().to_string());
        let dedupe_key = dedupe_key.as_str();
        let mut tx = self.begin(true).await?;
        require_primary(&mut tx).await?;
        if let Some(key) = item.certificate_key() {
            let holder = crate::certificates::key_site(&mut tx, &self.tenant, key).await?;
            item.check_key_holder(holder.as_ref().map(Option::as_deref))
                .map_err(|e| StoreError::Conflict(format!("outbox item {dedupe_key}: {e}")))?;
        }
        let entry = item.into_entry();
        crate::tenant::lock_head(&mut tx, self.tenant.into(), chain).await?;
        let held = sqlx::query(
            "SELECT seq FROM outbox_receipts WHERE tenant_code = $1 AND dedupe_key = $2",
        )
        .bind(self.tenant.as_str())
        .bind(dedupe_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = held {
            tx.commit().await?;
            return Ok(Replayed::AlreadyHeld(r.try_get::<i64, _>("seq")? as u64));
        }
        // A certificate the ledger holds already, whoever appended it: the
        // receipts are this node's own, but after a failover the new primary
        // holds — through replication — certificates that the old primary
        // appended from the same outbox (its answer may never have reached
        // the site). The 発行番号 decides.
        if let (Chain::Ledger, Some(number)) = (chain, dedupe_key.strip_prefix("certificate:")) {
            let issued = sqlx::query(
                "SELECT seq FROM certificates WHERE tenant_code = $1 AND issue_number = $2",
            )
            .bind(self.tenant.as_str())
            .bind(number)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(r) = issued {
                let seq = r.try_get::<i64, _>("seq")? as u64;
                record_receipt(&mut tx, &self.tenant, dedupe_key, chain, seq).await?;
                tx.commit().await?;
                return Ok(Replayed::AlreadyHeld(seq));
            }
        }
        let sealed: Vec<Entry> = append_in(&mut tx, &self.tenant, chain, vec![entry]).await?;
        if chain == Chain::Ledger {
            projection::apply(&self.store.systems, &mut tx, &self.tenant, &sealed).await?;
        }
        let (seq, at) = sealed.last().map_or((0, 0), |e| (e.seq, e.recorded_at.0));
        record_receipt(&mut tx, &self.tenant, dedupe_key, chain, seq).await?;
        tx.commit().await?;
        self.store.appended.committed(self.tenant, chain, seq, at);
        Ok(Replayed::Appended(seq))
    }
}

/// Remembers that the outbox item `dedupe_key` is entry `seq` of `chain`
/// here (replays of it answer `AlreadyHeld`).
async fn record_receipt(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    dedupe_key: &str,
    chain: Chain,
    seq: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox_receipts (tenant_code, dedupe_key, chain, seq, received_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant.as_str())
    .bind(dedupe_key)
    .bind(chain.name())
    .bind(seq as i64)
    .bind(RecordedAt::now().0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
