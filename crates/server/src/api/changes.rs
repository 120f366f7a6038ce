//! 四つの目 (four eyes): changes that open personal data or decide who
//! logs in — role grants, the IdP, linking an account to the IdP — are
//! proposed by one administrator (or a platform operator) and take effect
//! only when a different administrator of the municipality approves them.
//! The rules are the tenancy crate's (`review_role_change`,
//! `check_approver`); every proposal, approval and rejection is an entry of
//! the municipality's ledger.

use axum::Json;
use axum::extract::State;
use chrono::FixedOffset;
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_store::PendingChangeRow;
use murakumo_tenancy::{ChangeRequest, Permission, TenancyEvent, check_approver, parse_roles};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
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

fn new_change_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    format!("c-{}", hex::encode(b))
}

fn entry(actor: &str, event: &TenancyEvent) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.to_string(),
        version,
        effective_date: murakumo_core::today_in_japan(),
        actor: actor.to_string(),
        payload,
    }
}

/// Refuses an IdP that another municipality already uses.
pub(crate) async fn check_idp_free(
    state: &AppState,
    tenant: &TenantCode,
    entity_id: &str,
) -> ApiResult<()> {
    let owners = state.store.sso_tenants_for_idp(entity_id).await?;
    if owners.iter().any(|t| t != tenant) {
        return Err(ApiError {
            field: Some("idp_metadata_xml".into()),
            ..ApiError::conflict(format!(
                "IdPのエンティティID {entity_id:?} は別の団体がすでに使っています。IdPは1つの団体にだけ設定できます。団体ごとのIdP(またはエンティティID)を用意してください"
            ))
        });
    }
    Ok(())
}

/// Records `change` as pending in `tenant`'s ledger, proposed by `actor`;
/// returns the change as it now stands.
pub(crate) async fn propose(
    state: &AppState,
    tenant: &TenantCode,
    actor: &str,
    change: ChangeRequest,
) -> ApiResult<ChangeView> {
    let change_id = new_change_id();
    let ts = state.store.tenant(tenant);
    ts.append(vec![entry(
        actor,
        &TenancyEvent::ChangeProposed {
            change_id: change_id.clone(),
            change,
        },
    )])
    .await?;
    tracing::info!(tenant = %tenant, change_id = %change_id, actor = %actor, "change proposed; waiting for a second administrator");
    ts.change(&change_id)
        .await?
        .map(Into::into)
        .ok_or_else(|| ApiError::internal("proposed change not found"))
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

async fn pending(
    state: &AppState,
    session: &StaffSession,
    change_id: &str,
) -> ApiResult<PendingChangeRow> {
    session.require(Permission::StaffManage)?;
    let row = state
        .store
        .tenant(&session.tenant)
        .change(change_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("変更 {change_id} はこの団体にありません")))?;
    if row.status != "pending" {
        let done = if row.status == "approved" {
            "承認"
        } else {
            "却下"
        };
        return Err(ApiError::conflict(format!(
            "この変更({change_id})はすでに{done}されています"
        )));
    }
    check_approver(&session.staff.staff_id, &row.proposed_by, &row.change)
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    Ok(row)
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
    let row = pending(&state, &session, &change_id).await?;
    let ts = state.store.tenant(&session.tenant);
    let effect = match row.change.clone() {
        ChangeRequest::SetRoles { staff_id, roles } => {
            ts.staff_by_id(&staff_id).await?.ok_or_else(|| {
                ApiError::not_found(format!("職員 {staff_id} はこの団体にいません"))
            })?;
            parse_roles(&roles.join(",")).map_err(|e| ApiError::invalid("roles", e.to_string()))?;
            TenancyEvent::StaffRolesChanged { staff_id, roles }
        }
        ChangeRequest::ConfigureSso {
            idp_entity_id,
            config_json,
        } => {
            check_idp_free(&state, &session.tenant, &idp_entity_id).await?;
            TenancyEvent::SsoConfigured {
                idp_entity_id,
                config_json,
            }
        }
        ChangeRequest::LinkSso { staff_id } => {
            ts.staff_by_id(&staff_id).await?.ok_or_else(|| {
                ApiError::not_found(format!("職員 {staff_id} はこの団体にいません"))
            })?;
            TenancyEvent::StaffSsoLinked { staff_id }
        }
    };
    let actor = session.actor();
    // The approval and its effect in one append: both or neither. Two
    // administrators approving at once: the projection lets one through.
    ts.append(vec![
        entry(
            &actor,
            &TenancyEvent::ChangeApproved {
                change_id: change_id.clone(),
            },
        ),
        entry(&actor, &effect),
    ])
    .await?;
    state.cache.settings.forget(Some(&session.tenant));
    tracing::info!(tenant = %session.tenant, change_id = %change_id, approver = %actor, "change approved");
    let row = ts
        .change(&change_id)
        .await?
        .ok_or_else(|| ApiError::internal("approved change not found"))?;
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
    pending(&state, &session, &change_id).await?;
    let reason: String = req.reason.trim().chars().take(200).collect();
    let ts = state.store.tenant(&session.tenant);
    ts.append(vec![entry(
        &session.actor(),
        &TenancyEvent::ChangeRejected {
            change_id: change_id.clone(),
            reason,
        },
    )])
    .await?;
    let row = ts
        .change(&change_id)
        .await?
        .ok_or_else(|| ApiError::internal("rejected change not found"))?;
    Ok(Json(row.into()))
}
