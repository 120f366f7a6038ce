//! Staff accounts of the caller's municipality (団体管理者 only). Granting
//! a role that opens personal data (or the administrator's role) needs a
//! second administrator (四つの目, see `changes.rs`): such a grant is
//! recorded as pending, and nobody may grant one to themselves. So does
//! letting a password account log in through the IdP (`sso-link`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use murakumo_tenancy::{
    ChangeRequest, Permission, Role, RoleChange, Staff, StaffCreated, TenancyEvent, parse_roles,
    review_role_change, validate_login,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::changes::{ChangeView, propose};
use super::settings::entry;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
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
    parse_roles(&list.join(",")).map_err(|e| ApiError::invalid("roles", e.to_string()))
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
    let login = req.login.trim().to_lowercase();
    validate_login(&login).map_err(|e| ApiError::invalid("login", e.to_string()))?;
    let display_name = req.display_name.trim().to_string();
    if display_name.is_empty() || display_name.chars().count() > 60 {
        return Err(ApiError::invalid(
            "display_name",
            "職員の氏名を1〜60文字で入力してください",
        ));
    }
    let roles = roles_from(&req.roles)?;
    let password = req.password;
    let for_login = login.clone();
    let password_hash = tokio::task::spawn_blocking(move || {
        murakumo_auth::hash_password(&password, Some(&for_login))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::invalid("password", e.to_string()))?;
    let staff_id = new_staff_id();
    let review = review_role_change(
        Some(session.staff.staff_id.as_str()),
        &staff_id,
        &[],
        &roles,
    )
    .map_err(|e| ApiError::forbidden(e.to_string()))?;
    let now: Vec<Role> = match &review {
        RoleChange::Direct => roles.clone(),
        RoleChange::NeedsApproval(_) => roles
            .iter()
            .copied()
            .filter(|r| !r.needs_second_person())
            .collect(),
    };
    let event = TenancyEvent::StaffCreated(StaffCreated {
        staff_id: staff_id.clone(),
        login,
        display_name,
        roles: codes(&now),
        password_hash,
    });
    let ts = state.store.tenant(&session.tenant);
    ts.append(vec![entry(&session, &event)]).await?;
    let pending_change = match review {
        RoleChange::Direct => None,
        RoleChange::NeedsApproval(_) => Some(
            propose(
                &state,
                &session.tenant,
                &session.actor(),
                ChangeRequest::SetRoles {
                    staff_id: staff_id.clone(),
                    roles: codes(&roles),
                },
            )
            .await?,
        ),
    };
    let created = ts
        .staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::internal("created staff not found"))?;
    Ok(Json(StaffView {
        pending_change,
        ..created.into()
    }))
}

fn codes(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|r| r.code().to_string()).collect()
}

pub fn new_staff_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut b);
    format!("s-{}", hex::encode(b))
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
    let ts = state.store.tenant(&session.tenant);
    let target = ts
        .staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("職員 {staff_id} はこの団体にいません")))?;
    let review = review_role_change(
        Some(session.staff.staff_id.as_str()),
        &staff_id,
        &target.roles,
        &roles,
    )
    .map_err(|e| ApiError {
        field: Some("roles".into()),
        ..ApiError::forbidden(e.to_string())
    })?;
    match review {
        RoleChange::Direct => {
            let event = TenancyEvent::StaffRolesChanged {
                staff_id,
                roles: codes(&roles),
            };
            ts.append(vec![entry(&session, &event)]).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        RoleChange::NeedsApproval(_) => {
            let change = ChangeRequest::SetRoles {
                staff_id,
                roles: codes(&roles),
            };
            let view = propose(&state, &session.tenant, &session.actor(), change).await?;
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
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
    let ts = state.store.tenant(&session.tenant);
    ts.staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("職員 {staff_id} はこの団体にいません")))?;
    if ts.staff_sso_linked(&staff_id).await? {
        return Err(ApiError::conflict(format!(
            "職員 {staff_id} はすでにシングルサインオンと連携しています"
        )));
    }
    let view = propose(
        &state,
        &session.tenant,
        &session.actor(),
        ChangeRequest::LinkSso { staff_id },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
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
    if staff_id == session.staff.staff_id {
        return Err(ApiError::bad_request(
            "自分のアカウントは停止できません。別の団体管理者に依頼してください",
        ));
    }
    let ts = state.store.tenant(&session.tenant);
    ts.staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("職員 {staff_id} はこの団体にいません")))?;
    ts.append(vec![entry(
        &session,
        &TenancyEvent::StaffDisabled { staff_id },
    )])
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
