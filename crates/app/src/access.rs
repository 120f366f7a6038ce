//! The access log (principle 4: every read of personal data is logged — who, which
//! tenant, which person, why). A use case that discloses or changes personal data writes
//! its records here, or — for a change — hands them to the append that commits with it.

use murakumo_tenancy::{AccessAction, AccessRecord};

use crate::{App, Result, StaffActor, UseCaseError};

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
