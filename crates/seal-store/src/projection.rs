//! Seal events → `seals` (one row per registration, with its 印影) and `official_seals`
//! (the tenant's 公印).
//!
//! Invariant: applying the same entries to empty tables always yields the same rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_seal::{OfficialSealSet, SealEvent, SealRecord, SealStatus};
use murakumo_store::sql::{date_str, insert_verb, values_list};
use murakumo_store::{Projection, ProjectionRun, Start, StoreError, System, fetch_records};
use sqlx::{Any, Transaction};

use crate::SEAL;

/// Entries applied between two writes of the seal tables.
const BATCH: usize = 500;

/// The seal system's read models.
pub struct SealProjection;

impl Projection for SealProjection {
    fn system(&self) -> System {
        SEAL
    }

    fn version(&self) -> &'static str {
        "8"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["seals", "official_seals"]
    }

    fn start(&self, _: Start) -> Box<dyn ProjectionRun> {
        Box::new(SealBatch::default())
    }
}

#[async_trait]
impl ProjectionRun for SealBatch {
    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantCode,
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        for batch in entries.chunks(BATCH) {
            let mut events = Vec::with_capacity(batch.len());
            for e in batch {
                if let Some(ev) = SealEvent::decode(&e.kind, e.version, &e.payload)? {
                    events.push((e, ev));
                } else if let Some(ev) = OfficialSealSet::decode(&e.kind, e.version, &e.payload)? {
                    // Another table: its order against the batch's registrations does not matter.
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
            }
            self.prefetch(tx, tenant, events.iter().map(|(_, ev)| ev))
                .await?;
            for (e, ev) in &events {
                self.apply_event(tenant, e, ev);
            }
            self.flush(tx, tenant).await?;
        }
        Ok(())
    }
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
    fn apply_event(&mut self, tenant: &TenantCode, e: &Entry, ev: &SealEvent) {
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
                    owner: (*tenant).into(),
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
