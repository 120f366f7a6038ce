//! Receiving shipped ledger segments: the one mechanism behind restore,
//! replicas, the municipal-site fallback node and migration import.
//!
//! A segment is applied only if it continues the local chain exactly (its
//! `prev_hash` is the local head); a segment the chain already holds is
//! accepted again without change, so shipping is idempotent and resumable.

use murakumo_ledger::{ChainHead, LedgerOwner, Segment};
use sqlx::{Any, Transaction};

use crate::backend::Scope;
use crate::rows::Chain;
use crate::tenant::{insert_entries, lock_head};
use crate::{Store, StoreError, TenantInfo, TenantStore, projection};

/// What applying a segment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The entries were appended; the chain now ends here.
    Appended(ChainHead),
    /// The chain already held every entry of the segment (same hashes).
    AlreadyHeld(ChainHead),
}

impl Store {
    /// Makes an empty shell for a tenant whose chains will arrive as
    /// segments (restore, replica). No genesis entry: that is shipped too.
    /// Does nothing if the tenant exists.
    pub async fn ensure_tenant_shell(&self, info: &TenantInfo) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::TenantAndPlatform(&info.code), true)
            .await?;
        let exists = sqlx::query("SELECT 1 FROM tenants WHERE tenant_code = $1")
            .bind(info.code.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            sqlx::query("INSERT INTO tenants (tenant_code, name, prefecture_code, created_at) VALUES ($1, $2, $3, $4)")
                .bind(info.code.as_str())
                .bind(info.name.as_str())
                .bind(info.prefecture_code.as_str())
                .bind(info.created_at.timestamp_micros())
                .execute(&mut *tx)
                .await?;
            for chain in [Chain::Ledger, Chain::Access] {
                sqlx::query("INSERT INTO chain_heads (tenant_code, chain, seq, hash) VALUES ($1, $2, 0, $3)")
                    .bind(info.code.as_str())
                    .bind(chain.name())
                    .bind(murakumo_ledger::ChainHash::GENESIS.0.to_vec())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

impl TenantStore<'_> {
    /// Applies a verified segment to the end of a chain, projecting ledger
    /// entries, in one transaction.
    pub async fn apply_segment(
        &self,
        chain: Chain,
        segment: &Segment,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.begin(true).await?;
        if let Some(held) = insert_segment(&mut tx, self.tenant.into(), chain, segment).await? {
            tx.commit().await?;
            return Ok(held);
        }
        if chain == Chain::Ledger {
            projection::apply(&self.store.systems, &mut tx, &self.tenant, &segment.entries).await?;
        }
        tx.commit().await?;
        Ok(Applied::Appended(segment.header.end()))
    }
}

/// Inserts `segment` at the end of the chain of `owner` inside `tx`, under the head's lock,
/// if it continues that chain exactly; the caller projects the entries and commits. Answers
/// `Some` (nothing inserted) when the chain already holds the segment, and refuses a segment
/// of another owner, one that leaves a gap, and one that differs from what is held (a fork).
pub(crate) async fn insert_segment(
    tx: &mut Transaction<'static, Any>,
    owner: LedgerOwner,
    chain: Chain,
    segment: &Segment,
) -> Result<Option<Applied>, StoreError> {
    let h = &segment.header;
    if h.owner != owner {
        return Err(StoreError::Conflict(format!(
            "segment of {} cannot be applied to the chain of {owner}",
            h.owner
        )));
    }
    let head = lock_head(tx, owner, chain).await?;
    if h.last_seq <= head.seq {
        // Already held? The local entry at last_seq must have the same hash.
        let row = sqlx::query(&format!(
            "SELECT hash FROM {} WHERE tenant_code = $1 AND seq = $2",
            chain.table()
        ))
        .bind(owner.as_str())
        .bind(h.last_seq as i64)
        .fetch_optional(&mut **tx)
        .await?;
        let held: Option<Vec<u8>> = row.map(|r| sqlx::Row::try_get(&r, "hash")).transpose()?;
        return match held {
            Some(hash) if hash == h.last_hash.0 => Ok(Some(Applied::AlreadyHeld(head))),
            _ => Err(StoreError::Conflict(format!(
                "segment {}..{} of {owner} differs from the entries held here: the chains have forked",
                h.first_seq, h.last_seq
            ))),
        };
    }
    if h.start() != head {
        return Err(StoreError::Conflict(format!(
            "segment {}..{} does not continue the local chain of {owner} (which ends at entry {}); \
             the entries in between are needed first",
            h.first_seq, h.last_seq, head.seq
        )));
    }
    insert_entries(tx, chain, &segment.entries).await?;
    sqlx::query("UPDATE chain_heads SET seq = $1, hash = $2 WHERE tenant_code = $3 AND chain = $4")
        .bind(h.last_seq as i64)
        .bind(h.last_hash.0.to_vec())
        .bind(owner.as_str())
        .bind(chain.name())
        .execute(&mut **tx)
        .await?;
    Ok(None)
}
