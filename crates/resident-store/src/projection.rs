//! Resident events → `residents`, `resident_entries`, `former_household_members`.
//!
//! Invariant: applying the same entries to empty tables always yields the same rows; nothing
//! here reads the clock or anything outside the entries.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_resident::{Record, ResidentEvent, Status, normalize_kana, normalize_name};
use murakumo_store::sql::{date_str, insert_verb, values_list};
use murakumo_store::{Projection, ProjectionRun, Start, StoreError, System, fetch_records};
use sqlx::{Any, Transaction};

use crate::RESIDENT;

/// Entries applied between two writes of the resident tables.
const BATCH: usize = 500;

/// The register's read models.
pub struct ResidentProjection;

impl Projection for ResidentProjection {
    fn system(&self) -> System {
        RESIDENT
    }

    /// 7: records carry `last_change`; 8: former_household_members; 9: `search_kana` ignores
    /// 濁音, 長音 and ウ/オ after an オ段 kana (標準仕様書 §2.1.2); 10: `addressee_number`.
    fn version(&self) -> &'static str {
        "10"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["residents", "resident_entries", "former_household_members"]
    }

    fn start(&self, start: Start) -> Box<dyn ProjectionRun> {
        Box::new(Run {
            start,
            batch: ResidentBatch {
                fresh: start == Start::Rebuild,
                ..ResidentBatch::default()
            },
            begun: false,
        })
    }
}

struct Run {
    start: Start,
    batch: ResidentBatch,
    /// Whether the first entries were applied (a bulk run has then looked at its tables).
    begun: bool,
}

#[async_trait]
impl ProjectionRun for Run {
    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        if !self.begun && self.start == Start::Bulk {
            // A register still empty (a first import): records are inserted without being
            // looked up, which keeps a bulk load at one write per batch.
            self.batch.fresh =
                sqlx::query("SELECT 1 FROM residents WHERE tenant_code = $1 LIMIT 1")
                    .bind(tenant.as_str())
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_none();
        }
        self.begun = true;
        // The records of all residents a batch changes are fetched in one query before it is
        // applied, not one per event, and written back in multi-row statements.
        for batch in entries.chunks(BATCH) {
            let mut events = Vec::with_capacity(batch.len());
            for e in batch {
                if let Some(ev) = ResidentEvent::decode(&e.kind, e.version, &e.payload)? {
                    events.push((e, ev));
                }
            }
            if events.is_empty() {
                continue;
            }
            self.batch
                .prefetch(tx, tenant, events.iter().map(|(_, ev)| ev))
                .await?;
            for (e, ev) in &events {
                self.batch.apply(tenant, e, ev);
            }
            self.batch.flush(tx, tenant).await?;
        }
        Ok(())
    }
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
                     search_kana, search_name, birth_date, address, protected_until, addressee_number, record) VALUES {}{}",
                    values_list(tx, chunk.len(), 13),
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
                        .bind(r.addressee_number.clone())
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
     address = excluded.address, protected_until = excluded.protected_until, \
     addressee_number = excluded.addressee_number, record = excluded.record";
