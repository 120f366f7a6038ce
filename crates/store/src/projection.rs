//! Projections: ledger entries → read-model tables. The only code that writes read models,
//! so that a rebuild from the ledger reproduces them.
//!
//! The store does not know any business system's events. Each system declares its read
//! models as a [`Projection`] (its tables, its version, how its events change them); the
//! binaries hand the store the systems they run ([`Systems`]) when they open it, and the
//! store runs every one of them over each append, shipped segment, import and rebuild, in
//! the transaction that writes the entries. The platform's own read models (staff and
//! settings; issued certificates) are the two systems defined here.
//!
//! Invariant: applying the same entries to empty tables always yields the same rows;
//! nothing here reads the clock or anything outside the entries.

use std::sync::Arc;

use async_trait::async_trait;
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_tenancy::{CertificateIssued, TenancyEvent};
use sqlx::{Any, Row, Transaction};

use crate::rows::{Placeholders, date_str};
use crate::{StoreError, changes};

/// A business system, as far as the store knows it: a name (its projection version's key in
/// `meta`) and the name staff read when its read models are being rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct System {
    name: &'static str,
    label: &'static str,
}

impl System {
    /// Staff, roles, settings, SSO and four-eyes changes (the platform's own).
    pub const TENANCY: System = System::new("tenancy", "職員・設定");
    /// Issued certificates (発行番号, digests) for verification: the platform's, for every
    /// system that issues certificates.
    pub const CERTIFICATE: System = System::new("certificate", "証明書の交付記録");

    /// `name`: lower-case ASCII, unique among the systems; `label`: what staff call it.
    pub const fn new(name: &'static str, label: &'static str) -> System {
        System { name, label }
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The system's name as staff know it (住民記録, 印鑑登録, …).
    pub fn label(self) -> &'static str {
        self.label
    }
}

/// How a run of a projection begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Entries appended to read models that hold everything before them.
    Append,
    /// A bulk import (移行): like `Append`, but the system may find its tables empty for
    /// the tenant and then insert without looking rows up.
    Bulk,
    /// A rebuild: the system's tables were emptied for the tenant; the whole ledger follows.
    Rebuild,
}

/// A business system's read models: declared by the system's crate, run by the store.
#[async_trait]
pub trait Projection: Send + Sync {
    fn system(&self) -> System;

    /// Bump it when the tables or their meaning change: the system's read models are then
    /// rebuilt from every tenant's ledger, in the background (see `Store::rebuild_pending`).
    fn version(&self) -> &'static str;

    /// The tables the projection writes, each with a `tenant_code` column: emptied for a
    /// tenant before its rebuild.
    fn tables(&self) -> &'static [&'static str];

    /// A run over entries in ledger order (an append, an import, a rebuild): it may keep
    /// state between calls of [`ProjectionRun::apply`], e.g. records already fetched.
    fn start(&self, start: Start) -> Box<dyn ProjectionRun>;
}

/// One run of a [`Projection`].
#[async_trait]
pub trait ProjectionRun: Send {
    /// Applies `entries` (in ledger order, of any system: ignore kinds that are not yours)
    /// inside the caller's transaction, which is scoped to `tenant`.
    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError>;
}

/// The systems a store projects: the platform's own, then the business systems the binary
/// was built with. Cheap to clone.
#[derive(Clone)]
pub struct Systems(Arc<[&'static dyn Projection]>);

impl Systems {
    /// The platform's systems and `business` (each system once; a name used twice is a
    /// programming error and panics at start, before anything is written).
    pub fn new(business: &[&'static dyn Projection]) -> Systems {
        let all: Vec<&'static dyn Projection> = [&TENANCY as &dyn Projection, &CERTIFICATE]
            .into_iter()
            .chain(business.iter().copied())
            .collect();
        for (i, p) in all.iter().enumerate() {
            assert!(
                all[..i]
                    .iter()
                    .all(|q| q.system().name() != p.system().name()),
                "the system {:?} is registered twice",
                p.system().name()
            );
        }
        Systems(all.into())
    }

    /// Only the platform's systems (tools that touch no business system's read models).
    pub fn platform() -> Systems {
        Systems::new(&[])
    }

    pub fn all(&self) -> impl Iterator<Item = &'static dyn Projection> + '_ {
        self.0.iter().copied()
    }

    pub fn get(&self, system: System) -> Option<&'static dyn Projection> {
        self.all().find(|p| p.system() == system)
    }
}

pub(crate) async fn clear(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    projection: &dyn Projection,
) -> Result<(), StoreError> {
    for t in projection.tables() {
        sqlx::query(&format!("DELETE FROM {t} WHERE tenant_code = $1"))
            .bind(tenant.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Runs the projections of several systems over the same entries.
pub(crate) struct Projector {
    runs: Vec<Box<dyn ProjectionRun>>,
}

impl Projector {
    /// Every system's projection.
    pub(crate) fn new(systems: &Systems, start: Start) -> Projector {
        Projector {
            runs: systems.all().map(|p| p.start(start)).collect(),
        }
    }

    /// One system's projection, into its emptied tables.
    pub(crate) fn rebuilding(projection: &dyn Projection) -> Projector {
        Projector {
            runs: vec![projection.start(Start::Rebuild)],
        }
    }

    pub(crate) async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        for run in &mut self.runs {
            run.apply(tx, tenant, entries).await?;
        }
        Ok(())
    }
}

/// Applies one batch of entries (an append, a shipped segment) to every system's read models.
pub(crate) async fn apply(
    systems: &Systems,
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    entries: &[Entry],
) -> Result<(), StoreError> {
    Projector::new(systems, Start::Append)
        .apply(tx, tenant, entries)
        .await
}

/// The platform's staff, roles, settings, SSO and four-eyes changes.
struct Tenancy;
static TENANCY: Tenancy = Tenancy;

/// Versions up to 8 were one number for all systems (6: pending changes; 7: records carry
/// `last_change`; 8: former_household_members).
const PLATFORM_VERSION: &str = "8";

impl Projection for Tenancy {
    fn system(&self) -> System {
        System::TENANCY
    }
    fn version(&self) -> &'static str {
        PLATFORM_VERSION
    }
    fn tables(&self) -> &'static [&'static str] {
        &[
            "setting_history",
            "staff",
            "sso_configs",
            "pending_changes",
            "signing_keys",
        ]
    }
    fn start(&self, _: Start) -> Box<dyn ProjectionRun> {
        Box::new(Tenancy)
    }
}

#[async_trait]
impl ProjectionRun for Tenancy {
    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        for e in entries {
            if let Some(ev) = TenancyEvent::decode(&e.kind, e.version, &e.payload)? {
                apply_tenancy(tx, tenant, e, ev).await?;
            }
        }
        Ok(())
    }
}

/// Issued certificates (`certificate.issued`), by 発行番号.
struct Certificates;
static CERTIFICATE: Certificates = Certificates;

impl Projection for Certificates {
    fn system(&self) -> System {
        System::CERTIFICATE
    }
    fn version(&self) -> &'static str {
        PLATFORM_VERSION
    }
    fn tables(&self) -> &'static [&'static str] {
        &["certificates"]
    }
    fn start(&self, _: Start) -> Box<dyn ProjectionRun> {
        Box::new(Certificates)
    }
}

#[async_trait]
impl ProjectionRun for Certificates {
    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        for e in entries {
            let Some(c) = CertificateIssued::decode(&e.kind, e.version, &e.payload)? else {
                continue;
            };
            sqlx::query(
                "INSERT INTO certificates (tenant_code, issue_number, seq, kind, subjects, digest, key_id, issue_date, actor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(tenant.as_str())
            .bind(c.issue_number.as_str())
            .bind(e.seq as i64)
            .bind(c.kind.as_str())
            .bind(c.subjects.join(","))
            .bind(c.digest.as_str())
            .bind(c.key_id.as_str())
            .bind(date_str(e.effective_date))
            .bind(e.actor.as_str())
            .execute(&mut **tx)
            .await
            .map_err(|err| {
                StoreError::on_unique(err, || {
                    format!("発行番号 {} was issued before", c.issue_number)
                })
            })?;
        }
        Ok(())
    }
}

/// For a system's projection: the stored records (the `record` JSON column) of these keys in
/// `table` (keyed by `key` and `tenant_code`), in one query per 500; keys without a row are
/// left out.
pub async fn fetch_records<T: serde::de::DeserializeOwned>(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    table: &str,
    key: &str,
    keys: &[String],
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let mut p = Placeholders::new(tx, 1);
        let sql = format!(
            "SELECT {key}, record FROM {table} WHERE tenant_code = {} AND {key} IN ({})",
            p.one(),
            p.list(chunk.len())
        );
        // Not kept prepared: a generic plan made while the table was nearly
        // empty (a new tenant's import) would stay a sequential scan and
        // make the append O(n²).
        let mut q = sqlx::query(&sql).persistent(false).bind(tenant.as_str());
        for k in chunk {
            q = q.bind(k.as_str());
        }
        for row in q.fetch_all(&mut **tx).await? {
            let k: String = row.try_get(key)?;
            let json: String = row.try_get("record")?;
            let record = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                owner: (*tenant).into(),
                seq: 0,
                reason: format!("{table} record {k} is not readable: {e}"),
            })?;
            out.push((k, record));
        }
    }
    Ok(out)
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
            // An account without a password was made by the IdP (just in
            // time): it is linked to the IdP from the start.
            let sso_linked = i64::from(s.password_hash.is_empty());
            sqlx::query(
                "INSERT INTO staff (tenant_code, staff_id, login, display_name, roles, password_hash, disabled, sso_linked) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
            )
            .bind(t)
            .bind(s.staff_id)
            .bind(s.login)
            .bind(s.display_name)
            .bind(s.roles.join(","))
            .bind(s.password_hash)
            .bind(sso_linked)
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
        TenancyEvent::SsoConfigured {
            idp_entity_id,
            config_json,
        } => {
            sqlx::query(
                "INSERT INTO sso_configs (tenant_code, idp_entity_id, config_json) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_code) DO UPDATE SET idp_entity_id = excluded.idp_entity_id, config_json = excluded.config_json",
            )
            .bind(t)
            .bind(idp_entity_id.as_str())
            .bind(config_json)
            .execute(&mut **tx)
            .await
            .map_err(|err| {
                StoreError::on_unique(err, || {
                    format!(
                        "IdP {idp_entity_id:?} is already used by another municipality; an IdP belongs to one municipality only (同じIdPを複数の団体で使うことはできません)"
                    )
                })
            })?;
        }
        TenancyEvent::SsoRemoved => {
            sqlx::query("DELETE FROM sso_configs WHERE tenant_code = $1")
                .bind(t)
                .execute(&mut **tx)
                .await?;
        }
        TenancyEvent::ChangeProposed { change_id, change } => {
            changes::project_proposed(tx, tenant, e, &change_id, &change).await?;
        }
        TenancyEvent::ChangeApproved { change_id } => {
            changes::project_decided(tx, tenant, e, &change_id, "approved", None).await?;
        }
        TenancyEvent::ChangeRejected { change_id, reason } => {
            changes::project_decided(tx, tenant, e, &change_id, "rejected", Some(&reason)).await?;
        }
        TenancyEvent::StaffSsoLinked { staff_id } => {
            changes::project_sso_linked(tx, tenant, &staff_id).await?;
        }
        TenancyEvent::SigningKeyPublished(k) => {
            crate::certificates::project_published(tx, tenant, e, k).await?;
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
