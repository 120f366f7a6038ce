//! Staff accounts of the caller's municipality (団体管理者 only). Granting
//! a role that opens personal data (or the administrator's role) needs a
//! second administrator (四つの目, see `changes.rs`): such a grant is
//! recorded as pending, and nobody may grant one to themselves. So does
//! letting a password account log in through the IdP (`sso-link`). The rules are the
//! use cases' (`murakumo_app::staff`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use murakumo_app::{Actor, staff};
use murakumo_tenancy::{Permission, Role, Staff};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::changes::ChangeView;
use crate::error::{ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub staff_id: String,
    pub login: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Roles asked for that wait for a second administrator's approval
    /// (only in the answer to a creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_change: Option<ChangeView>,
}

impl From<Staff> for StaffView {
    fn from(s: Staff) -> Self {
        StaffView {
            staff_id: s.staff_id,
            login: s.login,
            display_name: s.display_name,
            roles: s.roles.iter().map(|r| r.code().to_string()).collect(),
            disabled: s.disabled,
            pending_change: None,
        }
    }
}

/// Staff accounts of the municipality.
#[utoipa::path(get, path = "/api/v1/staff", tag = "tenant",
    responses((status = 200, body = [StaffView]), (status = 403, body = ErrorBody)))]
pub async fn list_staff(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<Vec<StaffView>>> {
    session.require(Permission::StaffManage)?;
    Ok(Json(
        state
            .store
            .tenant(&session.tenant)
            .staff_list()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateStaff {
    /// 3–64 of a-z 0-9 . _ -
    pub login: String,
    pub display_name: String,
    /// Role codes, e.g. `resident.clerk`, `auditor`.
    pub roles: Vec<String>,
    /// At least 12 characters (5 different), not a common password, not
    /// containing the login id.
    pub password: String,
}

fn roles_from(list: &[String]) -> ApiResult<Vec<Role>> {
    Ok(staff::parse_role_list(&list.join(","))?)
}

/// Creates a staff account. Roles that need a second administrator are not
/// given at once: the answer's `pending_change` waits for approval.
#[utoipa::path(post, path = "/api/v1/staff", tag = "tenant", request_body = CreateStaff,
    responses((status = 200, body = StaffView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_staff(
    State(state): State<AppState>,
    session: StaffSession,
    ApiJson(req): ApiJson<CreateStaff>,
) -> ApiResult<Json<StaffView>> {
    session.require(Permission::StaffManage)?;
    let new = staff::NewStaff {
        staff_id: None,
        login: req.login,
        display_name: req.display_name,
        roles: req.roles,
        password: staff::Password::Given(req.password),
    };
    let actor = Actor::Staff(session.acting(&HeaderMap::new()));
    let created = staff::create(&state.app(), &actor, &session.tenant, new).await?;
    Ok(Json(StaffView {
        pending_change: created.pending.map(Into::into),
        ..created.staff.into()
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SetRoles {
    pub roles: Vec<String>,
}

/// Replaces a staff member's roles. Removing roles, or adding roles that
/// open no personal data, applies at once (204); adding a role that opens
/// personal data or the administrator's role waits for a second
/// administrator (202, the pending change); granting such a role to
/// oneself is refused (403).
#[utoipa::path(put, path = "/api/v1/staff/{staff_id}/roles", tag = "tenant", request_body = SetRoles,
    params(("staff_id" = String, Path)),
    responses((status = 204), (status = 202, body = ChangeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_roles(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(staff_id): ApiPath<String>,
    ApiJson(req): ApiJson<SetRoles>,
) -> ApiResult<Response> {
    session.require(Permission::StaffManage)?;
    let roles = roles_from(&req.roles)?;
    let actor = session.acting(&HeaderMap::new());
    match staff::set_roles(&state.app(), &actor, &staff_id, roles).await? {
        staff::RolesSet::Changed => Ok(StatusCode::NO_CONTENT.into_response()),
        staff::RolesSet::Pending(row) => {
            Ok((StatusCode::ACCEPTED, Json(ChangeView::from(row))).into_response())
        }
    }
}

/// Proposes that a staff account (made for password login) may log in
/// through the municipality's IdP too. Without this link an IdP login with
/// the same login id is refused. Waits for a second administrator (202).
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/sso-link", tag = "tenant",
    params(("staff_id" = String, Path)),
    responses((status = 202, body = ChangeView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn link_sso(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(staff_id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<ChangeView>)> {
    session.require(Permission::StaffManage)?;
    let actor = session.acting(&HeaderMap::new());
    let row = staff::link_sso(&state.app(), &actor, &staff_id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

/// Disables a staff account (it stays in the history; it cannot log in).
#[utoipa::path(post, path = "/api/v1/staff/{staff_id}/disable", tag = "tenant",
    params(("staff_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn disable_staff(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(staff_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    session.require(Permission::StaffManage)?;
    let actor = session.acting(&HeaderMap::new());
    staff::disable(&state.app(), &actor, &staff_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
