//! 支援措置: the gate itself is the use-case layer's (`murakumo_app::protection`), so that
//! every path — API, screens, certificates, 印鑑登録 — asks the same one. These adapters
//! only say who asks (the session and the request's purpose).

use axum::http::HeaderMap;
use murakumo_resident::Record;
use murakumo_tenancy::AccessAction;

use crate::error::ApiResult;
use crate::session::StaffSession;
use crate::state::AppState;

pub(crate) use murakumo_app::protection::today;

/// Whether `session` may see `record` at all (lists leave protected people out).
pub(crate) fn visible(session: &StaffSession, record: &Record) -> bool {
    !record.protected_on(today())
        || session
            .staff
            .can(murakumo_tenancy::Permission::ProtectedResidentView)
}

/// Admits `session` to `record` for `action`, or refuses with 403 (logged).
pub(crate) async fn admit(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    record: &Record,
    action: AccessAction,
) -> ApiResult<()> {
    Ok(
        murakumo_app::protection::admit(&state.app(), &session.acting(headers), record, action)
            .await?,
    )
}

/// Logs the unmasking of the protected people among `records` as reads.
pub(crate) async fn log_unmasked<'a>(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    records: impl IntoIterator<Item = &'a Record>,
) -> ApiResult<()> {
    Ok(
        murakumo_app::protection::log_unmasked(&state.app(), &session.acting(headers), records)
            .await?,
    )
}

/// [`admit`] to the resident with `code`, if there is one (a 印鑑登録 refers to one).
pub(crate) async fn admit_code(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    code: &str,
    action: AccessAction,
) -> ApiResult<()> {
    Ok(
        murakumo_app::protection::admit_code(&state.app(), &session.acting(headers), code, action)
            .await?,
    )
}
