//! Projections: ledger entries → read-model tables. The only code that
//! writes read models, so that a rebuild from the ledger reproduces them.
//!
//! Invariant: applying the same entries to empty tables always yields the
//! same rows; nothing here reads the clock or anything outside the entries.

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use std::collections::{BTreeSet, HashMap, HashSet};

use murakumo_resident::{
    CertificateIssued, Record, ResidentEvent, Status, normalize_kana, normalize_name,
};
use murakumo_seal::{OfficialSealSet, SealEvent, SealRecord, SealStatus};
use murakumo_tenancy::TenancyEvent;
use sqlx::{Any, Row, Transaction};

use crate::rows::{Placeholders, date_str, insert_verb, values_list};
use crate::{StoreError, changes};

/// A business system's read models: the tables it projects from the ledger and the version
/// of how it projects them. A system whose version changed is rebuilt, tenant by tenant, in the
/// background while the others are served (see `Store::rebuild_pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum System {
    /// Staff, roles, settings, SSO and four-eyes changes (the platform's own).
    Tenancy,
    /// 住民記録: the register and its households.
    Resident,
    /// Issued certificates (発行番号, digests) for verification.
    Certificate,
    /// 印鑑登録 and the 公印.
    Seal,
}

impl System {
    pub const ALL: [System; 4] = [
        System::Tenancy,
        System::Resident,
        System::Certificate,
        System::Seal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            System::Tenancy => "tenancy",
            System::Resident => "resident",
            System::Certificate => "certificate",
            System::Seal => "seal",
        }
    }

    /// Tables rebuilt from the ledger, cleared before a rebuild.
    fn tables(self) -> &'static [&'static str] {
        match self {
            System::Tenancy => &["setting_history", "staff", "sso_configs", "pending_changes"],
            System::Resident => &["residents", "resident_entries", "former_household_members"],
            System::Certificate => &["certificates"],
            System::Seal => &["seals", "official_seals"],
        }
    }

    /// Bump a system's version when its tables or their meaning change: that system is then
    /// rebuilt from every tenant's ledger. Versions up to 8 were one number for all systems
    /// (6: pending changes; 7: records carry `last_change`; 8: former_household_members).
    pub(crate) fn version(self) -> &'static str {
        match self {
            System::Tenancy | System::Resident | System::Certificate | System::Seal => "8",
        }
    }
}

pub(crate) async fn clear(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    system: System,
) -> Result<(), StoreError> {
    for t in system.tables() {
        sqlx::query(&format!("DELETE FROM {t} WHERE tenant_code = $1"))
            .bind(tenant.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Applies entries to the read models, in order, inside the caller's
/// transaction. For a one-off batch use [`apply`]; a rebuild keeps one
/// `Projector` across all pages of the ledger.
pub(crate) struct Projector {
    residents: ResidentBatch,
    seals: SealBatch,
    /// Only this system's read models (a rebuild of one system); `None`: all.
    only: Option<System>,
}

impl Projector {
    /// `fresh`: the resident tables are empty for this tenant (a rebuild),
    /// so a resident not seen yet in this run has no record to look up.
    pub(crate) fn new(fresh: bool) -> Projector {
        Projector {
            residents: ResidentBatch {
                fresh,
                ..ResidentBatch::default()
            },
            seals: SealBatch::default(),
            only: None,
        }
    }

    /// A projector of one system's read models, into its emptied tables.
    pub(crate) fn rebuilding(system: System) -> Projector {
        Projector {
            only: Some(system),
            ..Projector::new(true)
        }
    }

    fn projects(&self, system: System) -> bool {
        self.only.is_none_or(|s| s == system)
    }

    pub(crate) async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        // Batches of entries: the records of all residents and 印鑑登録 a
        // batch changes are fetched in one query before it is applied, not
        // one per event, and written back in multi-row statements.
        for batch in entries.chunks(BATCH) {
            let mut residents = Vec::with_capacity(batch.len());
            let mut seals = Vec::with_capacity(batch.len());
            let (project_residents, project_seals) =
                (self.projects(System::Resident), self.projects(System::Seal));
            for e in batch {
                let resident = ResidentEvent::decode(&e.kind, e.version, &e.payload)?;
                seals.push(match resident {
                    Some(_) => None,
                    None => SealEvent::decode(&e.kind, e.version, &e.payload)?,
                });
                residents.push(resident);
            }
            if project_residents {
                self.residents
                    .prefetch(tx, tenant, residents.iter().flatten())
                    .await?;
            }
            if project_seals {
                self.seals
                    .prefetch(tx, tenant, seals.iter().flatten())
                    .await?;
            }
            for ((e, resident), seal) in batch.iter().zip(&residents).zip(&seals) {
                if let Some(ev) = resident {
                    if project_residents {
                        self.residents.apply(tenant, e, ev);
                    }
                    continue;
                }
                if let Some(ev) = seal {
                    if project_seals {
                        self.seals.apply(tenant, e, ev);
                    }
                    continue;
                }
                if self.projects(System::Tenancy)
                    && let Some(ev) = TenancyEvent::decode(&e.kind, e.version, &e.payload)?
                {
                    apply_tenancy(tx, tenant, e, ev).await?;
                }
                if self.projects(System::Certificate)
                    && let Some(c) = CertificateIssued::decode(&e.kind, e.version, &e.payload)?
                {
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
                    .map_err(|err| StoreError::on_unique(err, || format!("発行番号 {} was issued before", c.issue_number)))?;
                }
                if project_seals
                    && let Some(ev) = OfficialSealSet::decode(&e.kind, e.version, &e.payload)?
                {
                    sqlx::query(
                        "INSERT INTO official_seals (tenant_code, png, seq) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_code) DO UPDATE SET png = excluded.png, seq = excluded.seq",
                    )
                    .bind(tenant.as_str())
                    .bind(ev.png)
                    .bind(e.seq as i64)
                    .execute(&mut **tx)
                    .await?;
                }
                // Kinds of other domains are not projected here.
            }
            self.residents.flush(tx, tenant).await?;
            self.seals.flush(tx, tenant).await?;
        }
        Ok(())
    }
}

/// Entries applied between two writes of the resident tables.
const BATCH: usize = 500;

/// Applies one batch of entries (an append, a shipped segment).
pub(crate) async fn apply(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    entries: &[Entry],
) -> Result<(), StoreError> {
    Projector::new(false).apply(tx, tenant, entries).await
}

/// Resident records changed in this batch, written back in multi-row
/// inserts (new rows of a fresh run) and upserts.
#[derive(Default)]
struct ResidentBatch {
    fresh: bool,
    /// Records fetched or changed since the last flush (`None`: no record).
    records: HashMap<String, Option<Record>>,
    /// Changed since the last flush, in a stable order.
    dirty: BTreeSet<String>,
    entries: Vec<(String, u64)>,
    /// (household, resident) of people who left a household by 世帯変更.
    departures: Vec<(String, String)>,
    /// In a fresh run: residents already written, which must be looked up.
    written: HashSet<String>,
}

impl ResidentBatch {
    /// Fetches, in one query per 500, the stored records of the residents
    /// these events change that are not known yet.
    async fn prefetch<'a>(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        events: impl Iterator<Item = &'a ResidentEvent>,
    ) -> Result<(), StoreError> {
        let mut wanted: Vec<String> = Vec::new();
        for ev in events {
            let code = ev.resident_code().to_string();
            // An entry (転入/出生/職権記載) starts a record: nothing to look
            // up, which keeps bulk loads and rebuilds at one write per batch.
            if matches!(ev, ResidentEvent::Entered { .. })
                || self.records.contains_key(&code)
                || (self.fresh && !self.written.contains(&code))
            {
                continue;
            }
            self.records.insert(code.clone(), None);
            wanted.push(code);
        }
        for (code, record) in
            fetch_records::<Record>(tx, tenant, "residents", "resident_code", &wanted).await?
        {
            self.records.insert(code, Some(record));
        }
        Ok(())
    }

    /// Applies one event to the fetched records; `prefetch` must have run
    /// for the batch it belongs to.
    fn apply(&mut self, tenant: &TenantCode, e: &Entry, ev: &ResidentEvent) {
        let code = ev.resident_code().to_string();
        let current = match ev {
            ResidentEvent::Entered { .. } => None,
            _ => self.records.get(&code).cloned().flatten(),
        };
        let updated = match murakumo_resident::apply(current, ev, e.effective_date) {
            Ok(r) => Some(r),
            // The ledger is the truth: an event that cannot apply (which
            // validation prevents) leaves the record as it was.
            Err(err) => {
                tracing::warn!(tenant = %tenant, seq = e.seq, error = %err, "resident event not applicable");
                return;
            }
        };
        if let (ResidentEvent::HouseholdChanged { household_id, .. }, Some(before)) =
            (ev, self.records.get(&code).and_then(Option::as_ref))
            && before.household_id != *household_id
        {
            self.departures
                .push((before.household_id.clone(), code.clone()));
        }
        self.dirty.insert(code.clone());
        self.entries.push((code.clone(), e.seq));
        self.records.insert(code, updated);
    }

    async fn flush(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
    ) -> Result<(), StoreError> {
        // In a fresh run a resident not written yet has no row: a plain
        // insert, which SQLite does without a statement journal (see
        // `insert_verb`). Everyone else is upserted.
        let mut new_rows = Vec::new();
        let mut upserts = Vec::new();
        for code in std::mem::take(&mut self.dirty) {
            let Some(Some(record)) = self.records.remove(&code) else {
                continue;
            };
            if self.fresh && self.written.insert(code) {
                new_rows.push(record);
            } else {
                upserts.push(record);
            }
        }
        // Keep memory bounded: what is written is looked up again if needed.
        self.records.clear();
        let verb = insert_verb(tx);
        for (rows, upsert) in [(new_rows, false), (upserts, true)] {
            for chunk in rows.chunks(500) {
                let sql = format!(
                    "{verb} INTO residents (tenant_code, resident_code, household_id, status, family_name, given_name, \
                     search_kana, search_name, birth_date, address, protected_until, record) VALUES {}{}",
                    values_list(tx, chunk.len(), 12),
                    if upsert { RESIDENT_UPSERT } else { "" }
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    let status = match r.status {
                        Status::Current => "current",
                        Status::MovingOut { .. } => "moving_out",
                        Status::Removed { .. } => "removed",
                    };
                    let p = &r.person;
                    q = q
                        .bind(tenant.as_str())
                        .bind(r.resident_code.clone())
                        .bind(r.household_id.clone())
                        .bind(status)
                        .bind(p.family_name.clone())
                        .bind(p.given_name.clone())
                        .bind(normalize_kana(&format!(
                            "{}{}",
                            p.family_kana, p.given_kana
                        )))
                        .bind(normalize_name(&format!(
                            "{}{}",
                            p.family_name, p.given_name
                        )))
                        .bind(date_str(p.birth_date))
                        .bind(r.address.text.clone())
                        .bind(r.protection.as_ref().map(|x| date_str(x.until)))
                        .bind(serde_json::to_string(r).unwrap_or_default());
                }
                q.execute(&mut **tx).await?;
            }
        }
        for chunk in self.entries.chunks(1000) {
            let sql = format!(
                "{verb} INTO resident_entries (tenant_code, resident_code, seq) VALUES {} ON CONFLICT DO NOTHING",
                values_list(tx, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (code, seq) in chunk {
                q = q.bind(tenant.as_str()).bind(code.clone()).bind(*seq as i64);
            }
            q.execute(&mut **tx).await?;
        }
        self.entries.clear();
        for chunk in self.departures.chunks(1000) {
            let sql = format!(
                "{verb} INTO former_household_members (tenant_code, household_id, resident_code) VALUES {} \
                 ON CONFLICT DO NOTHING",
                values_list(tx, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (household, code) in chunk {
                q = q
                    .bind(tenant.as_str())
                    .bind(household.clone())
                    .bind(code.clone());
            }
            q.execute(&mut **tx).await?;
        }
        self.departures.clear();
        Ok(())
    }
}

/// Turns the resident insert into an upsert (an upsert's `DO UPDATE` keeps
/// SQLite's statement journal whatever the verb).
const RESIDENT_UPSERT: &str = " ON CONFLICT (tenant_code, resident_code) DO UPDATE SET household_id = excluded.household_id, \
     status = excluded.status, family_name = excluded.family_name, given_name = excluded.given_name, \
     search_kana = excluded.search_kana, search_name = excluded.search_name, birth_date = excluded.birth_date, \
     address = excluded.address, protected_until = excluded.protected_until, record = excluded.record";

/// The stored records (the `record` JSON column) of these keys, in one
/// query per 500; keys without a row are left out.
async fn fetch_records<T: serde::de::DeserializeOwned>(
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
            p.next(),
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
                tenant: *tenant,
                seq: 0,
                reason: format!("{table} record {k} is not readable: {e}"),
            })?;
            out.push((k, record));
        }
    }
    Ok(out)
}

/// 印鑑登録 records changed in this batch: one row per registration,
/// rewritten on cancellation.
#[derive(Default)]
struct SealBatch {
    /// Records fetched or changed since the last flush, by 印鑑登録番号
    /// (`None`: no record).
    records: HashMap<String, Option<SealRecord>>,
    /// Registrations that have a row (found by `prefetch`).
    stored: HashSet<String>,
    /// Changed since the last flush, in a stable order.
    dirty: BTreeSet<String>,
    /// The 印影 of each registration without a row yet.
    impressions: HashMap<String, Vec<u8>>,
}

impl SealBatch {
    /// Fetches, in one query per 500, the stored records of the
    /// registrations these events change that are not known yet.
    async fn prefetch<'a>(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        events: impl Iterator<Item = &'a SealEvent>,
    ) -> Result<(), StoreError> {
        let mut wanted: Vec<String> = Vec::new();
        for ev in events {
            let number = ev.registration_number();
            if !self.records.contains_key(number) {
                self.records.insert(number.to_string(), None);
                wanted.push(number.to_string());
            }
        }
        for (number, record) in
            fetch_records::<SealRecord>(tx, tenant, "seals", "registration_number", &wanted).await?
        {
            self.stored.insert(number.clone());
            self.records.insert(number, Some(record));
        }
        Ok(())
    }

    /// Applies one event to the fetched records; `prefetch` must have run
    /// for the batch it belongs to.
    fn apply(&mut self, tenant: &TenantCode, e: &Entry, ev: &SealEvent) {
        let number = ev.registration_number();
        let current = self.records.get(number).cloned().flatten();
        let Some(record) = murakumo_seal::apply(current, ev, e.effective_date) else {
            tracing::warn!(tenant = %tenant, seq = e.seq, number, "seal event not applicable");
            return;
        };
        if let SealEvent::Registered { impression_png, .. } = ev {
            if !self.stored.contains(number) {
                self.impressions
                    .insert(number.to_string(), impression_png.clone());
            }
        }
        self.records.insert(number.to_string(), Some(record));
        self.dirty.insert(number.to_string());
    }

    /// Writes the changed records: rewrites first, then new rows, so that
    /// a registration cancelled and replaced in the same batch never has
    /// two in force (the unique indexes check each statement).
    async fn flush(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
    ) -> Result<(), StoreError> {
        let mut new_rows: Vec<(SealRecord, Vec<u8>)> = Vec::new();
        for number in std::mem::take(&mut self.dirty) {
            let Some(Some(record)) = self.records.remove(&number) else {
                continue;
            };
            if self.stored.contains(&number) {
                let (status, cancelled_on, reason) = seal_status(&record);
                sqlx::query(
                    "UPDATE seals SET status = $3, cancelled_on = $4, cancel_reason = $5, record = $6 \
                     WHERE tenant_code = $1 AND registration_number = $2",
                )
                .bind(tenant.as_str())
                .bind(number.as_str())
                .bind(status)
                .bind(cancelled_on)
                .bind(reason)
                .bind(serde_json::to_string(&record).unwrap_or_default())
                .execute(&mut **tx)
                .await?;
                continue;
            }
            // Only a 登録 makes a record that has no row.
            let png = self
                .impressions
                .remove(&number)
                .ok_or_else(|| StoreError::Corrupt {
                    tenant: *tenant,
                    seq: 0,
                    reason: format!("印鑑登録番号 {number} changes before it is registered"),
                })?;
            new_rows.push((record, png));
        }
        self.records.clear();
        self.stored.clear();
        self.impressions.clear();
        let verb = insert_verb(tx);
        for chunk in new_rows.chunks(500) {
            let sql = format!(
                "{verb} INTO seals (tenant_code, registration_number, resident_code, card_number, status, \
                 registered_on, cancelled_on, cancel_reason, record, impression) VALUES {}",
                values_list(tx, chunk.len(), 10)
            );
            let mut q = sqlx::query(&sql);
            for (record, png) in chunk {
                let (status, cancelled_on, reason) = seal_status(record);
                q = q
                    .bind(tenant.as_str())
                    .bind(record.registration_number.as_str())
                    .bind(record.resident_code.as_str())
                    .bind(record.card_number.as_str())
                    .bind(status)
                    .bind(date_str(record.registered_on))
                    .bind(cancelled_on)
                    .bind(reason)
                    .bind(serde_json::to_string(record).unwrap_or_default())
                    .bind(png.as_slice());
            }
            q.execute(&mut **tx).await.map_err(|err| {
                StoreError::on_unique(err, || {
                    let number = |(r, _): &(SealRecord, Vec<u8>)| r.registration_number.clone();
                    let numbers = match chunk {
                        [one] => number(one),
                        [first, .., last] => format!(
                            "{} … {} (one of these {})",
                            number(first),
                            number(last),
                            chunk.len()
                        ),
                        [] => String::new(),
                    };
                    format!(
                        "印鑑登録番号 {numbers}: the resident or the card already has a registration in force"
                    )
                })
            })?;
        }
        Ok(())
    }
}

/// The `status`, `cancelled_on` and `cancel_reason` columns of a record.
fn seal_status(record: &SealRecord) -> (&'static str, Option<String>, Option<&'static str>) {
    match &record.status {
        SealStatus::Active => ("active", None, None),
        SealStatus::Cancelled { date, reason } => {
            ("cancelled", Some(date_str(*date)), Some(reason.code()))
        }
    }
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
