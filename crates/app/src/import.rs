//! The migration import: a data set in the standard migration format (crate
//! `murakumo-migration`) read, validated in full, and recorded into a municipality whose
//! register is empty — the residents' 異動, then the 印鑑登録, the 公印, the 外字 table and
//! the import's own record — in chunks that readers see all at once
//! (`TenantStore::import`). A killed import of the same data set resumes; a data set
//! already imported changes nothing. The face shows progress through the callbacks.

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_migration::read::Progress;
use murakumo_migration::{Dataset, Encoding, Inputs, MigrationEvent, ReadError, ReadOptions};
use murakumo_resident_store::ResidentReads;
use murakumo_seal::OfficialSealSet;
use murakumo_store::StoreError;

use crate::{App, Result, UseCaseError};

/// The actor of entries an import records.
pub const IMPORT_ACTOR: &str = "system:migration";

/// Reads and validates a data set for `tenant`; records nothing. `today` is Japan's.
pub fn read(
    inputs: &Inputs,
    tenant: TenantCode,
    encoding: Option<Encoding>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Dataset, ReadError> {
    murakumo_migration::read(
        inputs,
        &ReadOptions {
            municipality: tenant,
            encoding,
            today: murakumo_core::today_in_japan(),
        },
        progress,
    )
}

/// Where a recording is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An unfinished import of this data set is taken up again.
    Resuming,
    /// `done` of `total` ledger entries recorded and projected.
    Recorded { done: u64, total: u64 },
}

/// What a recording did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The municipality already holds this data set (imported as ledger entry `seq`).
    AlreadyHeld { seq: u64 },
    Imported {
        /// The ledger's last entry after the import.
        head_seq: u64,
        residents: u64,
        events: u64,
        seals: u64,
    },
}

fn entry(event: &impl EventCodec, effective: NaiveDate) -> NewEntry {
    let mut e = crate::entry(IMPORT_ACTOR, event);
    e.effective_date = effective;
    e
}

/// The ledger entries a data set becomes, in the order they are recorded: the 異動, the
/// 宛名番号 of people the data set gives none, then the seal events (checked against the register as of each 登録日), the 公印, the 外字
/// table and the import's record.
pub fn entries(mut ds: Dataset, today: NaiveDate) -> Vec<NewEntry> {
    let mut entries: Vec<NewEntry> = Vec::with_capacity(ds.events.len() + ds.seals.len() + 3);
    for d in &ds.events {
        entries.push(entry(&d.event, d.effective));
    }
    let events = ds.events.len() as u64;
    // 標準仕様書 §1.1.13: every person has a 宛名番号; a source system without them (format 1.2
    // and before) leaves them to be given here, on the day of the import.
    for numbered in murakumo_resident::numbers_for_those_without(ds.events.iter().map(|d| &d.event))
    {
        entries.push(entry(&numbered, today));
    }
    // The images move into the entries.
    for d in std::mem::take(&mut ds.seals) {
        entries.push(entry(&d.event, d.effective));
    }
    if let Some(png) = ds.official_seal.take() {
        entries.push(entry(
            &OfficialSealSet {
                png,
                reason: murakumo_migration::seal::IMPORTED_OFFICIAL_SEAL_REASON.into(),
            },
            today,
        ));
    }
    entries.push(entry(
        &MigrationEvent::GaijiTableSet {
            entries: ds.gaiji.entries().to_vec(),
        },
        today,
    ));
    entries.push(entry(
        &MigrationEvent::Imported {
            digest: ds.digest.clone(),
            format_version: ds.version.clone(),
            residents: ds.residents,
            events,
        },
        today,
    ));
    entries
}

/// Records a validated data set into `tenant` (which must exist).
pub async fn record(
    app: &App,
    tenant: &TenantCode,
    ds: Dataset,
    mut progress: impl FnMut(Step),
) -> Result<Outcome> {
    let ts = app.tenant(tenant);
    for e in ts.entries_of_kind("migration.imported").await? {
        if let Some(MigrationEvent::Imported { digest, .. }) =
            MigrationEvent::decode(&e.kind, e.version, &e.payload).map_err(StoreError::from)?
            && digest == ds.digest
        {
            return Ok(Outcome::AlreadyHeld { seq: e.seq });
        }
    }
    // An import of this data set killed part way resumes; another one's blocks the tenant.
    let resuming = match ts.import_mark().await? {
        Some(m) if m.digest == ds.digest => {
            progress(Step::Resuming);
            true
        }
        Some(m) => {
            return Err(UseCaseError::conflict(format!(
                "an import of another data set (digest {}) is unfinished in {tenant}: run `murakumo import` with that data set again to finish it (nothing was imported)",
                m.digest
            )));
        }
        None => false,
    };
    if !resuming && ts.has_residents().await? {
        return Err(UseCaseError::conflict(format!(
            "{tenant} already has residents: an import goes into a municipality whose register is still empty (nothing was imported)"
        )));
    }
    let (residents, events, seals) = (ds.residents, ds.events.len() as u64, ds.seals.len() as u64);
    let digest = ds.digest.clone();
    let entries = entries(ds, murakumo_core::today_in_japan());
    // Written in chunks (other municipalities' counters wait at most one), seen all at once.
    let head = ts
        .import(
            &digest,
            entries,
            murakumo_store::IMPORT_CHUNK,
            |done, total| progress(Step::Recorded { done, total }),
        )
        .await?;
    Ok(Outcome::Imported {
        head_seq: head.seq,
        residents,
        events,
        seals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use murakumo_migration::synth;
    use murakumo_resident::ResidentEvent;

    #[tokio::test]
    async fn people_imported_without_an_addressee_number_get_the_next_ones() {
        let code = TenantCode::from_five_digits("01228").expect("code");
        let today = murakumo_core::today_in_japan();
        let g = synth::generate(&synth::Options {
            municipality: code,
            population: 40,
            seed: 3,
            as_of: today,
            history_days: 60,
        });
        // The source system gave every other person no 宛名番号.
        let mut kept = std::collections::HashMap::new();
        let mut events = Vec::new();
        let mut numbered = 0;
        for d in g.events {
            if let ResidentEvent::AddresseeNumberAssigned {
                resident_code,
                addressee_number,
            } = &d.event
            {
                numbered += 1;
                if numbered % 2 == 0 {
                    continue;
                }
                kept.insert(resident_code.clone(), addressee_number.clone());
            }
            events.push(d);
        }
        let people: Vec<String> = events
            .iter()
            .filter(|d| matches!(d.event, ResidentEvent::Entered { .. }))
            .map(|d| d.event.resident_code().to_string())
            .collect();
        assert!(people.len() > kept.len() + 5, "some people lack a number");
        let ds = Dataset {
            version: "1.2".into(),
            gaiji: g.gaiji,
            events,
            seals: Vec::new(),
            official_seal: None,
            residents: people.len() as u64,
            digest: "test".into(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::new(
            crate::open_store(dir.path(), None, None)
                .await
                .expect("store"),
        );
        let actor = crate::Actor::System("system:test".into());
        crate::platform::create_tenant(&app, &actor, &code, "深川市")
            .await
            .expect("tenant");
        record(&app, &code, ds, |_| {}).await.expect("imported");

        let ts = app.tenant(&code);
        let mut seen = std::collections::HashSet::new();
        let highest_kept = kept.values().max().cloned();
        for person in &people {
            let record = ts.resident(person).await.expect("read").expect("recorded");
            let number = record
                .addressee_number
                .expect("every person has a 宛名番号");
            murakumo_resident::check_addressee_number(&number).expect("a valid number");
            assert!(seen.insert(number.clone()), "{number} given twice");
            match kept.get(person) {
                Some(given) => assert_eq!(&number, given, "the source's number is kept"),
                None => assert!(
                    Some(&number) > highest_kept.as_ref(),
                    "{number} after the source's"
                ),
            }
        }
        // The next person entered at the counter continues after them.
        let highest = seen.iter().max().cloned();
        assert_eq!(
            ts.highest_addressee_number().await.expect("highest"),
            highest
        );
    }
}
