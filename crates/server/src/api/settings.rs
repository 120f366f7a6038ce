//! The caller's municipality: its info and settings (標準 → 県版 → 個別).

use axum::Json;
use axum::extract::State;
use murakumo_app::Actor;
use murakumo_app::settings::{MunicipalChange, set_municipal};
use murakumo_store::SettingChange;
use murakumo_tenancy::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::platform::{SetValue, TenantView};
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

/// The caller's municipality.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant",
    responses((status = 200, body = TenantView), (status = 401, body = ErrorBody)))]
pub async fn own_tenant(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(state.store.tenant_info(&session.tenant).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct SettingView {
    pub key: String,
    pub label_ja: String,
    pub value: Option<String>,
    /// `standard` (標準), `prefecture` (県版) or `municipal` (個別).
    pub tier: String,
}

#[derive(Deserialize, IntoParams)]
pub struct SettingsQuery {
    /// The values in force on this date (e.g. a 賦課期日); today if omitted.
    pub on: Option<chrono::NaiveDate>,
}

/// Every setting of the caller's municipality, with the tier it comes from, as in force today
/// or on the date asked.
#[utoipa::path(get, path = "/api/v1/settings", tag = "tenant", params(SettingsQuery),
    responses((status = 200, body = [SettingView]), (status = 401, body = ErrorBody)))]
pub async fn list_settings(
    State(state): State<AppState>,
    session: StaffSession,
    ApiQuery(q): ApiQuery<SettingsQuery>,
) -> ApiResult<Json<Vec<SettingView>>> {
    let all = match q.on {
        Some(date) => std::sync::Arc::new(state.settings_on(&session.tenant, date).await?),
        None => state.settings(&session.tenant).await?,
    };
    Ok(Json(
        all.iter()
            .map(|r| SettingView {
                key: r.key.to_string(),
                label_ja: r.label_ja.to_string(),
                value: r.value.clone(),
                tier: serde_json::to_value(r.tier)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            })
            .collect(),
    ))
}

/// Sets (or with `null` clears) the municipality's own (個別) value. Settings the platform
/// operator sets (`platform.*`, the quotas) are refused (403): they are set through
/// `PUT /api/v1/tenants/{code}/settings/{key}`.
#[utoipa::path(put, path = "/api/v1/settings/{key}", tag = "tenant", request_body = SetValue,
    params(("key" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_setting(
    State(state): State<AppState>,
    session: StaffSession,
    ApiPath(key): ApiPath<String>,
    ApiJson(req): ApiJson<SetValue>,
) -> ApiResult<axum::http::StatusCode> {
    session.require(Permission::SettingsManage)?;
    let actor = Actor::Staff(session.acting(&axum::http::HeaderMap::new()));
    let change = MunicipalChange {
        key: &key,
        value: req.value.as_deref(),
        reason: &req.reason,
        effective_from: req.effective_from,
    };
    set_municipal(&state.app(), &actor, &session.tenant, change).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Only this setting.
    pub key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SettingChangeView {
    pub seq: u64,
    pub key: String,
    pub value: Option<String>,
    pub reason: String,
    pub actor: String,
    pub effective_date: String,
    pub recorded_at: String,
}

impl From<SettingChange> for SettingChangeView {
    fn from(c: SettingChange) -> Self {
        SettingChangeView {
            seq: c.seq,
            key: c.key,
            value: c.value,
            reason: c.reason,
            actor: c.actor,
            effective_date: c.effective_date.to_string(),
            recorded_at: c.recorded_at.to_rfc3339(),
        }
    }
}

/// Every change of the municipality's own settings, oldest first.
#[utoipa::path(get, path = "/api/v1/settings/history", tag = "tenant", params(HistoryQuery),
    responses((status = 200, body = [SettingChangeView])))]
pub async fn setting_history(
    State(state): State<AppState>,
    session: StaffSession,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<SettingChangeView>>> {
    let list = state
        .store
        .tenant(&session.tenant)
        .setting_history(q.key.as_deref())
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}
