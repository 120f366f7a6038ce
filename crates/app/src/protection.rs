//! 支援措置 (DV等支援措置): the one gate between staff and the record of a protected
//! resident. Every path that returns, changes or reveals a resident — API and staff
//! screens, detail, 異動履歴, household, search, 異動, certificates, 印鑑登録 — asks here,
//! so a screen cannot refuse what the API allows.
//!
//! Staff without [`Permission::ProtectedResidentView`] are refused a protected record (the
//! refusal is logged), and lists leave the person out altogether: neither the code nor the
//! count gives them away. A permitted view of a protected person (an unmasking) is logged
//! as a read.

use chrono::NaiveDate;
use murakumo_resident::Record;
use murakumo_resident_store::ResidentReads;
use murakumo_tenancy::{AccessAction, Permission};

use crate::access::{self, resident};
use crate::{App, Result, StaffActor, UseCaseError};

/// The access-log detail of a refusal.
pub const REFUSED: &str = "refused: 支援措置";
/// The access-log detail of a permitted view of a protected person.
pub const UNMASKED: &str = "unmasked: 支援措置";

/// Today in Japan, the day on which a 支援措置's term is judged.
pub fn today() -> NaiveDate {
    murakumo_core::today_in_japan()
}

/// Whether `actor` may see `record` at all (lists use this to leave protected people out
/// without a trace).
pub fn visible(actor: &StaffActor, record: &Record) -> bool {
    !record.protected_on(today()) || actor.can(Permission::ProtectedResidentView)
}

/// Admits `actor` to `record` for `action`, or refuses (logged under `action`). Admitting a
/// protected record logs the unmasking as a read.
pub async fn admit(
    app: &App,
    actor: &StaffActor,
    record: &Record,
    action: AccessAction,
) -> Result<()> {
    if !record.protected_on(today()) {
        return Ok(());
    }
    let subject = resident(&record.resident_code);
    if !actor.can(Permission::ProtectedResidentView) {
        access::log(app, actor, action, [subject], REFUSED).await?;
        return Err(refusal());
    }
    access::log(app, actor, AccessAction::Read, [subject], UNMASKED).await
}

/// [`admit`] to the resident with `code`, if there is one (a record that only refers to a
/// resident, such as a 印鑑登録).
pub async fn admit_code(
    app: &App,
    actor: &StaffActor,
    code: &str,
    action: AccessAction,
) -> Result<()> {
    match app.tenant(&actor.tenant).resident(code).await? {
        Some(record) => admit(app, actor, &record, action).await,
        None => Ok(()),
    }
}

/// Logs the unmasking of the protected people among `records` (already filtered with
/// [`visible`]) as reads.
pub async fn log_unmasked<'a>(
    app: &App,
    actor: &StaffActor,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<()> {
    let today = today();
    let subjects: Vec<String> = records
        .into_iter()
        .filter(|r| r.protected_on(today))
        .map(|r| resident(&r.resident_code))
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    access::log(app, actor, AccessAction::Read, subjects, UNMASKED).await
}

/// The residents whose 支援措置 ends within a month from today, soonest first: their
/// extension can be asked for now (標準仕様書 §3.4/M3), so staff ask them. Only for staff
/// who may see protected people; each person listed is logged as an unmasking.
pub async fn ending_soon(app: &App, actor: &StaffActor) -> Result<Vec<Record>> {
    actor.require(Permission::ProtectedResidentView)?;
    let from = today();
    let to = from
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(from);
    let records = app
        .tenant(&actor.tenant)
        .protections_ending(from, to)
        .await?;
    log_unmasked(app, actor, &records).await?;
    Ok(records)
}

/// The refusal: says nothing about the person.
pub fn refusal() -> UseCaseError {
    UseCaseError::forbidden(
        "この住民は支援措置の対象です。閲覧・異動・交付には住民記録責任者の確認が必要です",
    )
}
