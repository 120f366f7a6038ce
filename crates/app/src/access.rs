//! The access log (principle 4: every read of personal data is logged — who, which
//! tenant, which person, why). A use case that discloses or changes personal data writes
//! its records here, or — for a change — hands them to the append that commits with it.

use murakumo_tenancy::{AccessAction, AccessRecord};

use crate::{App, Result, StaffActor};

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
