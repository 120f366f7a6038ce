//! 四つの目 (four eyes): changes that open personal data or decide who
//! logs in — role grants, the IdP, linking an account to the IdP — are
//! proposed by one administrator (or a platform operator) and take effect
//! only when a different administrator of the municipality approves them.
//! The rules are the tenancy crate's (`review_role_change`,
//! `check_approver`); every proposal, approval and rejection is an entry of
//! the municipality's ledger. The use cases are `murakumo_app::changes`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::FixedOffset;
use murakumo_app::{Actor, changes};
use murakumo_core::TenantCode;
use murakumo_store::PendingChangeRow;
use murakumo_tenancy::{ChangeRequest, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

/// A proposed change and what became of it.
#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    pub change_id: String,
    /// `set_roles`, `configure_sso` or `link_sso`.
    pub kind: String,
    /// The staff member concerned (`set_roles`, `link_sso`).
    pub staff_id: Option<String>,
    /// The roles the staff member will have (`set_roles`).
    pub roles: Option<Vec<String>>,
    /// The IdP that will be trusted (`configure_sso`).
    pub idp_entity_id: Option<String>,
    /// Who proposed it (`staff:…` or `operator:…`).
    pub proposed_by: String,
    /// When, Japan time (RFC 3339, +09:00).
    pub proposed_at: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub reason: Option<String>,
}

/// A recorded time as a person reads it: Japan time.
fn japan_time(us: i64) -> String {
    match (
        FixedOffset::east_opt(9 * 3600),
        chrono::DateTime::from_timestamp_micros(us),
    ) {
        (Some(jst), Some(t)) => t.with_timezone(&jst).to_rfc3339(),
        _ => String::new(),
    }
}

impl From<PendingChangeRow> for ChangeView {
    fn from(r: PendingChangeRow) -> ChangeView {
        let (staff_id, roles, idp_entity_id) = match &r.change {
            ChangeRequest::SetRoles { staff_id, roles } => {
                (Some(staff_id.clone()), Some(roles.clone()), None)
            }
            ChangeRequest::ConfigureSso { idp_entity_id, .. } => {
                (None, None, Some(idp_entity_id.clone()))
            }
            ChangeRequest::LinkSso { staff_id } => (Some(staff_id.clone()), None, None),
        };
        ChangeView {
            change_id: r.change_id,
            kind: r.change.code().to_string(),
            staff_id,
            roles,
            idp_entity_id,
            proposed_by: r.proposed_by,
            proposed_at: japan_time(r.proposed_at),
            status: r.status,
            decided_by: r.decided_by,
            decided_at: r.decided_at.map(japan_time),
            reason: r.reason,
        }
    }
}

/// Refuses an IdP that another municipality already uses.
pub(crate) async fn check_idp_free(
    state: &AppState,
    tenant: &TenantCode,
    entity_id: &str,
) -> ApiResult<()> {
    Ok(changes::check_idp_free(&state.app(), tenant, entity_id).await?)
}

/// Records `change` as pending in `tenant`'s ledger, proposed by `actor`.
pub(crate) async fn propose(
    state: &AppState,
    tenant: &TenantCode,
    actor: &Actor,
    change: ChangeRequest,
) -> ApiResult<ChangeView> {
    Ok(changes::propose(&state.app(), tenant, actor, change)
        .await?
        .into())
}

#[derive(Deserialize, IntoParams)]
pub struct ChangesQuery {
    /// Also decided changes (approved, rejected); default: pending only.
    #[serde(default)]
    pub all: bool,
}

/// Changes of the caller's municipality waiting for a second administrator
/// (団体管理者), newest first.
#[utoipa::path(get, path = "/api/v1/changes", tag = "tenant", params(ChangesQuery),
    responses((status = 200, body = [ChangeView]), (status = 403, body = ErrorBody)))]
pub async fn list_changes(
    State(state): State<AppState>,
    session: StaffSession,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> ApiResult<Json<Vec<ChangeView>>> {
    session.require(Permission::StaffManage)?;
    let rows = state.store.tenant(&session.tenant).changes(q.all).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Approves a pending change (a different 団体管理者 than the one who
/// proposed it, and not the staff member it is about); it takes effect at
/// once.
#[utoipa::path(post, path = "/api/v1/changes/{change_id}/approve", tag = "tenant",
    params(("change_id" = String, Path)),
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_change(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(change_id): ApiPath<String>,
) -> ApiResult<Json<ChangeView>> {
    let row =
        changes::approve(&state.app(), &session.acting(&HeaderMap::new()), &change_id).await?;
    Ok(Json(row.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct RejectChange {
    /// Why (kept in the ledger).
    #[serde(default)]
    pub reason: String,
}

/// Rejects a pending change (a different 団体管理者); nothing changes.
#[utoipa::path(post, path = "/api/v1/changes/{change_id}/reject", tag = "tenant", request_body = RejectChange,
    params(("change_id" = String, Path)),
    responses((status = 200, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_change(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(change_id): ApiPath<String>,
    ApiJson(req): ApiJson<RejectChange>,
) -> ApiResult<Json<ChangeView>> {
    let row = changes::reject(
        &state.app(),
        &session.acting(&HeaderMap::new()),
        &change_id,
        &req.reason,
    )
    .await?;
    Ok(Json(row.into()))
}
