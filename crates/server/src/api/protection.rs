//! 支援措置 (DV等支援措置): the one gate between staff and the record of a
//! protected resident. Every path that returns, changes or reveals a
//! resident — API and staff screens, detail, 異動履歴, household, search,
//! 異動, certificates, 印鑑登録 — asks here, so a screen cannot refuse what
//! the API allows.
//!
//! Staff without [`Permission::ProtectedResidentView`] are refused a
//! protected record (the refusal is logged), and lists leave the person out
//! altogether: neither the code nor the count gives them away. A permitted
//! view of a protected person (an unmasking) is logged as a read.

use axum::http::HeaderMap;
use chrono::NaiveDate;
use murakumo_resident::Record;
use murakumo_tenancy::{AccessAction, Permission};

use super::residents::log;
use crate::error::{ApiError, ApiResult};
use crate::session::StaffSession;
use crate::state::AppState;

/// The access-log detail of a refusal.
pub(crate) const REFUSED: &str = "refused: 支援措置";
/// The access-log detail of a permitted view of a protected person.
pub(crate) const UNMASKED: &str = "unmasked: 支援措置";

/// Today in Japan, the day on which a 支援措置's term is judged.
pub(crate) fn today() -> NaiveDate {
    murakumo_core::today_in_japan()
}

/// Whether `session` may see `record` at all (lists use this to leave
/// protected people out without a trace).
pub(crate) fn visible(session: &StaffSession, record: &Record) -> bool {
    !record.protected_on(today()) || session.staff.can(Permission::ProtectedResidentView)
}

/// Admits `session` to `record` for `action`, or refuses with 403 (logged
/// under `action`). Admitting a protected record logs the unmasking as a
/// read.
pub(crate) async fn admit(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    record: &Record,
    action: AccessAction,
) -> ApiResult<()> {
    if !record.protected_on(today()) {
        return Ok(());
    }
    let subject = format!("resident:{}", record.resident_code);
    if !session.staff.can(Permission::ProtectedResidentView) {
        log(state, session, headers, action, [subject], REFUSED).await?;
        return Err(refusal());
    }
    log(
        state,
        session,
        headers,
        AccessAction::Read,
        [subject],
        UNMASKED,
    )
    .await
}

/// [`admit`] to the resident with `code`, if there is one (a record that
/// only refers to a resident, such as a 印鑑登録).
pub(crate) async fn admit_code(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    code: &str,
    action: AccessAction,
) -> ApiResult<()> {
    match state.store.tenant(&session.tenant).resident(code).await? {
        Some(record) => admit(state, session, headers, &record, action).await,
        None => Ok(()),
    }
}

/// Logs the unmasking of the protected people among `records` (already
/// filtered with [`visible`]) as reads.
pub(crate) async fn log_unmasked<'a>(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    records: impl IntoIterator<Item = &'a Record>,
) -> ApiResult<()> {
    let today = today();
    let subjects: Vec<String> = records
        .into_iter()
        .filter(|r| r.protected_on(today))
        .map(|r| format!("resident:{}", r.resident_code))
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    log(
        state,
        session,
        headers,
        AccessAction::Read,
        subjects,
        UNMASKED,
    )
    .await
}

/// The refusal: says nothing about the person.
pub(crate) fn refusal() -> ApiError {
    ApiError::forbidden(
        "この住民は支援措置の対象です。閲覧・異動・交付には住民記録責任者の確認が必要です",
    )
}
