//! Staff accounts of the caller's municipality (団体管理者 only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use murakumo_tenancy::{
    Permission, Role, Staff, StaffCreated, TenancyEvent, parse_roles, validate_login,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
}

impl From<Staff> for StaffView {
    fn from(s: Staff) -> Self {
        StaffView {
            staff_id: s.staff_id,
            login: s.login,
            display_name: s.display_name,
            roles: s.roles.iter().map(|r| r.code().to_string()).collect(),
            disabled: s.disabled,
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
    /// At least 12 characters.
    pub password: String,
}

fn roles_from(list: &[String]) -> ApiResult<Vec<Role>> {
    parse_roles(&list.join(",")).map_err(|e| ApiError::invalid("roles", e.to_string()))
}

/// Creates a staff account.
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
            "give the staff member's name, 1 to 60 characters",
        ));
    }
    let roles = roles_from(&req.roles)?;
    let password = req.password;
    let password_hash =
        tokio::task::spawn_blocking(move || murakumo_auth::hash_password(&password))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::invalid("password", e.to_string()))?;
    let staff_id = new_staff_id();
    let event = TenancyEvent::StaffCreated(StaffCreated {
        staff_id: staff_id.clone(),
        login,
        display_name,
        roles: roles.iter().map(|r| r.code().to_string()).collect(),
        password_hash,
    });
    let ts = state.store.tenant(&session.tenant);
    ts.append(vec![entry(&session, &event)]).await?;
    let created = ts
        .staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::internal("created staff not found"))?;
    Ok(Json(created.into()))
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

/// Replaces a staff member's roles.
#[utoipa::path(put, path = "/api/v1/staff/{staff_id}/roles", tag = "tenant", request_body = SetRoles,
    params(("staff_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn set_roles(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(staff_id): ApiPath<String>,
    ApiJson(req): ApiJson<SetRoles>,
) -> ApiResult<StatusCode> {
    session.require(Permission::StaffManage)?;
    let roles = roles_from(&req.roles)?;
    let ts = state.store.tenant(&session.tenant);
    ts.staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no staff member {staff_id}")))?;
    let event = TenancyEvent::StaffRolesChanged {
        staff_id,
        roles: roles.iter().map(|r| r.code().to_string()).collect(),
    };
    ts.append(vec![entry(&session, &event)]).await?;
    Ok(StatusCode::NO_CONTENT)
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
            "you cannot disable your own account; ask another administrator",
        ));
    }
    let ts = state.store.tenant(&session.tenant);
    ts.staff_by_id(&staff_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no staff member {staff_id}")))?;
    ts.append(vec![entry(
        &session,
        &TenancyEvent::StaffDisabled { staff_id },
    )])
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
