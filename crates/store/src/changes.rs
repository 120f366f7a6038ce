//! Changes waiting for a second administrator (四つの目), projected from
//! `tenancy.change_proposed`, `change_approved` and `change_rejected`; and
//! which staff accounts are linked to the municipality's IdP.

use murakumo_core::TenantCode;
use murakumo_ledger::Entry;
use murakumo_tenancy::ChangeRequest;
use sqlx::{Any, Row, Transaction};

use crate::{StoreError, TenantStore};

/// A proposed change and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChangeRow {
    pub change_id: String,
    pub change: ChangeRequest,
    /// The entry actor who proposed it (`staff:…`, `operator:…`).
    pub proposed_by: String,
    /// µs since the epoch.
    pub proposed_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub reason: Option<String>,
}

const COLUMNS: &str =
    "change_id, change_json, proposed_by, proposed_at, status, decided_by, decided_at, reason";

fn from_row(r: &sqlx::any::AnyRow) -> Result<PendingChangeRow, StoreError> {
    let json: String = r.try_get("change_json")?;
    Ok(PendingChangeRow {
        change_id: r.try_get("change_id")?,
        change: serde_json::from_str(&json)
            .map_err(|e| StoreError::Conflict(format!("stored change unreadable: {e}")))?,
        proposed_by: r.try_get("proposed_by")?,
        proposed_at: r.try_get("proposed_at")?,
        status: r.try_get("status")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get("decided_at")?,
        reason: r.try_get("reason")?,
    })
}

impl TenantStore<'_> {
    /// Changes of this municipality, newest first; only pending ones unless
    /// `all`.
    pub async fn changes(&self, all: bool) -> Result<Vec<PendingChangeRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let filter = if all { "" } else { " AND status = 'pending'" };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pending_changes WHERE tenant_code = $1{filter} ORDER BY proposed_at DESC, change_id"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn change(&self, change_id: &str) -> Result<Option<PendingChangeRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pending_changes WHERE tenant_code = $1 AND change_id = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(change_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Whether the account may log in through the IdP (linked explicitly,
    /// or created just in time by it).
    pub async fn staff_sso_linked(&self, staff_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let row =
            sqlx::query("SELECT sso_linked FROM staff WHERE tenant_code = $1 AND staff_id = $2")
                .bind(self.tenant.as_str())
                .bind(staff_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("sso_linked")? != 0,
            None => false,
        })
    }
}

pub(crate) async fn project_proposed(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    e: &Entry,
    change_id: &str,
    change: &ChangeRequest,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(change).map_err(|e| StoreError::Conflict(e.to_string()))?;
    sqlx::query(
        "INSERT INTO pending_changes (tenant_code, change_id, kind, change_json, target_staff, proposed_by, proposed_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')",
    )
    .bind(tenant.as_str())
    .bind(change_id)
    .bind(change.code())
    .bind(json)
    .bind(change.target_staff())
    .bind(e.actor.as_str())
    .bind(e.recorded_at.0)
    .execute(&mut **tx)
    .await
    .map_err(|err| StoreError::on_unique(err, || format!("change {change_id} exists already")))?;
    Ok(())
}

/// Marks a pending change decided; refuses one that is not pending (two
/// administrators deciding at once: the second finds it decided).
pub(crate) async fn project_decided(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    e: &Entry,
    change_id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE pending_changes SET status = $3, decided_by = $4, decided_at = $5, reason = $6 \
         WHERE tenant_code = $1 AND change_id = $2 AND status = 'pending'",
    )
    .bind(tenant.as_str())
    .bind(change_id)
    .bind(status)
    .bind(e.actor.as_str())
    .bind(e.recorded_at.0)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done != 1 {
        return Err(StoreError::Conflict(format!(
            "change {change_id} is not pending (already decided, or unknown)"
        )));
    }
    Ok(())
}

pub(crate) async fn project_sso_linked(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    staff_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE staff SET sso_linked = 1 WHERE tenant_code = $1 AND staff_id = $2")
        .bind(tenant.as_str())
        .bind(staff_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
