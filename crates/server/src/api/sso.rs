//! A municipality's SAML single sign-on settings: its IdP (metadata import),
//! the attribute mapping and just-in-time account creation. Operators
//! propose them for any municipality, a municipality's administrator
//! (団体管理者) for their own; either way the IdP decides who logs in, so a
//! change takes effect only when a (different) administrator of the
//! municipality approves it (四つの目, `changes.rs`), as a
//! `tenancy.sso_configured` entry. An IdP's entity id belongs to one
//! municipality only. Switching SSO off takes effect at once (password
//! logins go on).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_saml::{AttributeMapping, TenantSso};
use murakumo_tenancy::{ChangeRequest, Permission, TenancyEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::changes::{ChangeView, check_idp_free, propose};
use super::platform::parse_code;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::session::{OperatorSession, StaffSession};
use crate::state::AppState;
use murakumo_app::Actor;

/// Which assertion attribute means what (names match an attribute's `Name`
/// or `FriendlyName`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoMapping {
    /// Attribute with the login id; omitted: the NameID.
    pub login: Option<String>,
    /// Attribute with the display name (氏名).
    pub display_name: Option<String>,
    /// Attribute with the 団体コード; users of another municipality are refused.
    pub tenant: Option<String>,
    /// Attribute whose values give roles through `role_values`.
    pub roles: Option<String>,
    /// IdP value → role codes, e.g. {"jumin": ["resident.clerk"]}.
    #[serde(default)]
    pub role_values: BTreeMap<String, Vec<String>>,
    /// Roles of just-in-time accounts when no roles attribute is mapped.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

/// SSO settings of a municipality.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    /// The IdP's SAML 2.0 metadata XML (EntityDescriptor with an
    /// IDPSSODescriptor, a signing certificate and an HTTP-Redirect
    /// SingleSignOnService).
    pub idp_metadata_xml: String,
    #[serde(default)]
    pub mapping: SsoMapping,
    /// Create a staff account on first login (自動登録).
    #[serde(default)]
    pub jit: bool,
    /// Accept logins started at the IdP's portal.
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SsoView {
    pub idp_entity_id: String,
    pub sso_url: String,
    pub slo_url: Option<String>,
    /// notAfter of each IdP signing certificate.
    pub certificate_not_after: Vec<String>,
    pub mapping: SsoMapping,
    pub jit: bool,
    pub allow_idp_initiated: bool,
    /// What to register at the IdP: this platform's SP metadata URL.
    pub sp_metadata_url: String,
    pub sp_acs_url: String,
}

fn to_config(s: SsoSettings) -> TenantSso {
    let m = s.mapping;
    TenantSso {
        idp_metadata_xml: s.idp_metadata_xml,
        mapping: AttributeMapping {
            login: m.login,
            display_name: m.display_name,
            tenant: m.tenant,
            roles: m.roles,
            role_values: m.role_values,
            default_roles: m.default_roles,
        },
        jit: s.jit,
        allow_idp_initiated: s.allow_idp_initiated,
    }
}

async fn view(state: &AppState, tenant: &TenantCode) -> ApiResult<Json<SsoView>> {
    let json = state
        .store
        .tenant(tenant)
        .sso_config()
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "団体 {tenant} にはシングルサインオン(IdP)が設定されていません"
            ))
        })?;
    let cfg: TenantSso = serde_json::from_str(&json).map_err(|e| {
        ApiError::internal(format!(
            "保存されたシングルサインオンの設定を読み取れません: {e}"
        ))
    })?;
    let idp = cfg.validate().map_err(|e| {
        ApiError::internal(format!(
            "保存されたシングルサインオンの設定が正しくありません: {e}"
        ))
    })?;
    let sp = state.sp();
    let m = cfg.mapping;
    Ok(Json(SsoView {
        idp_entity_id: idp.entity_id.clone(),
        sso_url: idp.sso_url.clone(),
        slo_url: idp.slo_url.clone(),
        certificate_not_after: idp.certificate_not_after(),
        mapping: SsoMapping {
            login: m.login,
            display_name: m.display_name,
            tenant: m.tenant,
            roles: m.roles,
            role_values: m.role_values,
            default_roles: m.default_roles,
        },
        jit: cfg.jit,
        allow_idp_initiated: cfg.allow_idp_initiated,
        sp_metadata_url: sp.entity_id,
        sp_acs_url: sp.acs_url,
    }))
}

/// Checks the settings and records them as a pending change (202).
async fn store(
    state: &AppState,
    tenant: &TenantCode,
    actor: Actor,
    settings: SsoSettings,
) -> ApiResult<(StatusCode, Json<ChangeView>)> {
    state.store.tenant_info(tenant).await?;
    let cfg = to_config(settings);
    let idp = cfg
        .validate()
        .map_err(|e| ApiError::invalid("idp_metadata_xml", e.message_ja()))?;
    check_idp_free(state, tenant, &idp.entity_id).await?;
    let change = ChangeRequest::ConfigureSso {
        idp_entity_id: idp.entity_id.clone(),
        config_json: serde_json::to_string(&cfg).map_err(|e| ApiError::internal(e.to_string()))?,
    };
    let view = propose(state, tenant, &actor, change).await?;
    tracing::info!(tenant = %tenant, idp = %idp.entity_id, change_id = %view.change_id, "SSO change proposed");
    Ok((StatusCode::ACCEPTED, Json(view)))
}

async fn append(
    state: &AppState,
    tenant: &TenantCode,
    actor: String,
    event: &TenancyEvent,
) -> ApiResult<()> {
    let (kind, version, payload) = event.encode();
    state
        .store
        .tenant(tenant)
        .append(vec![NewEntry {
            kind: kind.to_string(),
            version,
            effective_date: murakumo_core::today_in_japan(),
            actor,
            payload,
        }])
        .await?;
    Ok(())
}

/// A municipality's SSO settings (operators).
#[utoipa::path(get, path = "/api/v1/tenants/{code}/sso", tag = "sso",
    params(("code" = String, Path, description = "団体コード")),
    responses((status = 200, body = SsoView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_tenant_sso(
    State(state): State<AppState>,
    _op: OperatorSession,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<SsoView>> {
    view(&state, &parse_code("code", &code)?).await
}

/// Imports a municipality's IdP metadata and its attribute mapping as a
/// proposal (operators): it takes effect when an administrator of the
/// municipality approves it (`POST /api/v1/changes/{change_id}/approve`).
/// Refused with the reason if the metadata lacks an entity id, a signing
/// certificate or an HTTP-Redirect SSO endpoint, or if another
/// municipality uses the same IdP entity id (409).
#[utoipa::path(put, path = "/api/v1/tenants/{code}/sso", tag = "sso", request_body = SsoSettings,
    params(("code" = String, Path, description = "団体コード")),
    responses((status = 202, body = ChangeView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_tenant_sso(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<SsoSettings>,
) -> ApiResult<(StatusCode, Json<ChangeView>)> {
    store(
        &state,
        &parse_code("code", &code)?,
        Actor::Operator {
            operator_id: op.operator_id.clone(),
        },
        req,
    )
    .await
}

/// Switches single sign-on off for a municipality (operators); password
/// logins keep working.
#[utoipa::path(delete, path = "/api/v1/tenants/{code}/sso", tag = "sso",
    params(("code" = String, Path, description = "団体コード")),
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn delete_tenant_sso(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let tenant = parse_code("code", &code)?;
    state.store.tenant_info(&tenant).await?;
    append(&state, &tenant, op.actor(), &TenancyEvent::SsoRemoved).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's municipality's SSO settings (団体管理者).
#[utoipa::path(get, path = "/api/v1/sso", tag = "sso",
    responses((status = 200, body = SsoView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_own_sso(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<SsoView>> {
    session.require(Permission::SettingsManage)?;
    view(&state, &session.tenant).await
}

/// Imports the IdP metadata and the attribute mapping of the caller's
/// municipality (団体管理者) as a proposal: it takes effect when a different
/// administrator approves it.
#[utoipa::path(put, path = "/api/v1/sso", tag = "sso", request_body = SsoSettings,
    responses((status = 202, body = ChangeView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_own_sso(
    State(state): State<AppState>,
    session: StaffSession,
    ApiJson(req): ApiJson<SsoSettings>,
) -> ApiResult<(StatusCode, Json<ChangeView>)> {
    session.require(Permission::SettingsManage)?;
    store(
        &state,
        &session.tenant,
        Actor::Staff(session.acting(&axum::http::HeaderMap::new())),
        req,
    )
    .await
}
