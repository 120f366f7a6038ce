//! The access log (principle 4: every read of personal data is logged — who, which
//! tenant, which person, why). A use case that discloses or changes personal data writes
//! its records here, or — for a change — hands them to the append that commits with it.

use murakumo_ledger::NewEntry;
use murakumo_store::{Chain, StoreError, TenantStore};
use murakumo_tenancy::{AccessAction, AccessRecord};

use crate::{App, Result, StaffActor, UseCaseError};

/// How often a change is decided again when the ledger moved between its check and its
/// append (each time against the newer state) before the clerk is told to try again.
const CHECK_ATTEMPTS: u32 = 5;

/// Decides a change against the ledger as it stands and appends its entries with its
/// access-log records in one transaction, only if nothing was appended in between (by
/// another request or node): otherwise decides again. `decide` reads what it checks and
/// returns the entries, their access records and what the caller wants back; an error from
/// it (a refusal) is returned as it is and nothing is written.
pub(crate) async fn append_decided<T, Decided>(
    ts: &TenantStore<'_>,
    actor: &StaffActor,
    mut decide: impl FnMut() -> Decided,
) -> Result<T>
where
    Decided: Future<Output = Result<(Vec<NewEntry>, Vec<AccessRecord>, T)>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let checked_at = ts.head(Chain::Ledger).await?.seq;
        let (entries, records, decided) = decide().await?;
        let appended = entries.len() as u64;
        match ts
            .append_checked(entries, checked_at, &actor.id(), &records)
            .await
        {
            Ok(_) => {
                metrics::counter!("murakumo_ledger_entries_appended_total").increment(appended);
                metrics::counter!("murakumo_access_log_entries_total")
                    .increment(records.len() as u64);
                return Ok(decided);
            }
            Err(StoreError::LedgerMoved { .. }) if attempt < CHECK_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The access-log records of one action: one per subject, with the actor's purpose and
/// request id.
pub fn records(
    actor: &StaffActor,
    action: AccessAction,
    subjects: impl IntoIterator<Item = String>,
    detail: &str,
) -> Vec<AccessRecord> {
    subjects
        .into_iter()
        .map(|subject| AccessRecord {
            action,
            subject,
            purpose: actor.purpose.clone(),
            detail: detail.to_string(),
            request_id: actor.request_id.clone(),
        })
        .collect()
}

/// Writes the records of one action to the actor's municipality's access log.
pub async fn log(
    app: &App,
    actor: &StaffActor,
    action: AccessAction,
    subjects: impl IntoIterator<Item = String>,
    detail: &str,
) -> Result<()> {
    let records = records(actor, action, subjects, detail);
    app.tenant(&actor.tenant)
        .log_access(&actor.id(), &records)
        .await?;
    metrics::counter!("murakumo_access_log_entries_total").increment(records.len() as u64);
    Ok(())
}

/// The subject of a resident in the access log.
pub fn resident(code: &str) -> String {
    format!("resident:{code}")
}

/// Searches the actor's municipality's access log, newest first (an auditor's 監査). A record
/// that cannot be read is listed in its place, never failing the search.
pub async fn search(
    app: &App,
    actor: &StaffActor,
    filter: &murakumo_store::AccessFilter,
) -> Result<Vec<murakumo_store::AccessLogRow>> {
    actor.require(murakumo_tenancy::Permission::AccessLogRead)?;
    if let Some(a) = &filter.action
        && AccessAction::parse(a).is_none()
    {
        return Err(UseCaseError::invalid(
            "action",
            "操作の種類は read(閲覧)、search(検索)、change(異動)、issue(交付)、export(出力)のいずれかを指定してください",
        ));
    }
    Ok(app.tenant(&actor.tenant).search_access_log(filter).await?)
}
