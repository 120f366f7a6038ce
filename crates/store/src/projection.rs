//! Projections: ledger entries → read-model tables. The only code that
//! writes read models, so that a rebuild from the ledger reproduces them.
//!
//! Invariant: applying the same entries to empty tables always yields the
//! same rows; nothing here reads the clock or anything outside the entries.

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_resident::{MovedIn, ResidentEvent};
use murakumo_tenancy::TenancyEvent;
use sqlx::{Any, Transaction};

use crate::StoreError;
use crate::rows::{date_str, values_list};

/// Tables rebuilt from the ledger, cleared before a rebuild.
const PROJECTION_TABLES: &[&str] = &["settings", "setting_history", "staff", "residents"];

pub(crate) async fn clear(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
) -> Result<(), StoreError> {
    for t in PROJECTION_TABLES {
        sqlx::query(&format!("DELETE FROM {t} WHERE tenant_code = $1"))
            .bind(tenant.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Applies entries in order. Consecutive 転入 are inserted in multi-row
/// batches (rebuilds are dominated by them).
pub(crate) async fn apply(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    entries: &[Entry],
) -> Result<(), StoreError> {
    let mut moved_in: Vec<MovedIn> = Vec::new();
    for e in entries {
        if let Some(ResidentEvent::MovedIn(m)) =
            ResidentEvent::decode(&e.kind, e.version, &e.payload)?
        {
            moved_in.push(m);
            if moved_in.len() >= 500 {
                insert_residents(tx, tenant, &mut moved_in).await?;
            }
            continue;
        }
        insert_residents(tx, tenant, &mut moved_in).await?;
        if let Some(ev) = TenancyEvent::decode(&e.kind, e.version, &e.payload)? {
            apply_tenancy(tx, tenant, e, ev).await?;
        }
        // Kinds of other domains are not projected here.
    }
    insert_residents(tx, tenant, &mut moved_in).await
}

async fn insert_residents(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    batch: &mut Vec<MovedIn>,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO residents (tenant_code, resident_code, household_id, family_name, given_name, \
         family_kana, given_kana, birth_date, sex_code, address, relationship) VALUES {}",
        values_list(batch.len(), 11)
    );
    let mut q = sqlx::query(&sql);
    for m in batch.iter() {
        q = q
            .bind(tenant.as_str())
            .bind(m.resident_code.clone())
            .bind(m.household_id.clone())
            .bind(m.family_name.clone())
            .bind(m.given_name.clone())
            .bind(m.family_kana.clone())
            .bind(m.given_kana.clone())
            .bind(date_str(m.birth_date))
            .bind(i64::from(m.sex_code))
            .bind(m.address.clone())
            .bind(m.relationship.clone());
    }
    let codes: Vec<String> = batch.iter().map(|m| m.resident_code.clone()).collect();
    batch.clear();
    q.execute(&mut **tx).await.map_err(|e| {
        StoreError::on_unique(e, || {
            format!(
                "住民票コード already registered (one of {})",
                codes.join(", ")
            )
        })
    })?;
    Ok(())
}

async fn apply_tenancy(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    e: &Entry,
    ev: TenancyEvent,
) -> Result<(), StoreError> {
    let t = tenant.as_str();
    match ev {
        // The tenant row itself is platform data, written when the tenant is
        // created or renamed (see platform.rs).
        TenancyEvent::TenantCreated { .. } | TenancyEvent::TenantRenamed { .. } => {}
        TenancyEvent::SettingChanged { key, value, reason } => {
            match &value {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO settings (tenant_code, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_code, key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(t)
                    .bind(key.as_str())
                    .bind(v.as_str())
                    .execute(&mut **tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM settings WHERE tenant_code = $1 AND key = $2")
                        .bind(t)
                        .bind(key.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
            }
            sqlx::query(
                "INSERT INTO setting_history (tenant_code, seq, key, value, reason, actor, effective_date, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t)
            .bind(e.seq as i64)
            .bind(key)
            .bind(value)
            .bind(reason)
            .bind(e.actor.as_str())
            .bind(date_str(e.effective_date))
            .bind(e.recorded_at.0)
            .execute(&mut **tx)
            .await?;
        }
        TenancyEvent::StaffCreated(s) => {
            let login = s.login.clone();
            sqlx::query(
                "INSERT INTO staff (tenant_code, staff_id, login, display_name, roles, password_hash, disabled) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
            )
            .bind(t)
            .bind(s.staff_id)
            .bind(s.login)
            .bind(s.display_name)
            .bind(s.roles.join(","))
            .bind(s.password_hash)
            .execute(&mut **tx)
            .await
            .map_err(|err| StoreError::on_unique(err, || format!("login id {login:?} is already taken in tenant {t}")))?;
        }
        TenancyEvent::StaffRolesChanged { staff_id, roles } => {
            update_staff(tx, t, &staff_id, "roles", roles.join(",")).await?;
        }
        TenancyEvent::StaffPasswordChanged {
            staff_id,
            password_hash,
        } => {
            update_staff(tx, t, &staff_id, "password_hash", password_hash).await?;
        }
        TenancyEvent::StaffDisabled { staff_id } => {
            sqlx::query("UPDATE staff SET disabled = 1 WHERE tenant_code = $1 AND staff_id = $2")
                .bind(t)
                .bind(staff_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

async fn update_staff(
    tx: &mut Transaction<'static, Any>,
    tenant: &str,
    staff_id: &str,
    column: &'static str,
    value: String,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE staff SET {column} = $1 WHERE tenant_code = $2 AND staff_id = $3"
    ))
    .bind(value)
    .bind(tenant)
    .bind(staff_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
