//! Platform operators: the tenant list and 県版 settings. Operators see no
//! personal data; verifying and rebuilding a tenant touch only its chains.

use axum::Json;
use axum::extract::State;
use murakumo_core::TenantCode;
use murakumo_store::{Chain, TenantInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::session::OperatorSession;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct TenantView {
    /// 全国地方公共団体コード
    pub code: String,
    pub name: String,
    pub prefecture_code: String,
    pub prefecture_name: String,
    pub created_at: String,
}

impl From<TenantInfo> for TenantView {
    fn from(t: TenantInfo) -> TenantView {
        TenantView {
            prefecture_name: t.code.prefecture().name().to_string(),
            code: t.code.to_string(),
            name: t.name,
            prefecture_code: t.prefecture_code,
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

pub(crate) fn parse_code(field: &str, s: &str) -> ApiResult<TenantCode> {
    TenantCode::parse(s).map_err(|e| ApiError::invalid(field, e.message_ja()))
}

/// Lists the municipalities on this platform.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "platform",
    responses((status = 200, body = [TenantView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    _op: OperatorSession,
) -> ApiResult<Json<Vec<TenantView>>> {
    Ok(Json(
        state
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(TenantView::from)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTenant {
    /// 全国地方公共団体コード (6 digits with check digit).
    pub code: String,
    pub name: String,
}

/// Adds a municipality to the platform.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "platform", request_body = CreateTenant,
    responses((status = 200, body = TenantView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<Json<TenantView>> {
    let code = parse_code("code", &req.code)?;
    let actor = murakumo_app::Actor::Operator {
        operator_id: op.operator_id.clone(),
    };
    let created =
        murakumo_app::platform::create_tenant(&state.app(), &actor, &code, &req.name).await?;
    Ok(Json(created.into()))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyReport {
    pub ledger_head_seq: u64,
    pub ledger_head_hash: String,
    pub access_head_seq: u64,
    pub access_head_hash: String,
}

/// Verifies both hash chains (ledger and access log) of a municipality.
#[utoipa::path(post, path = "/api/v1/tenants/{code}/verify", tag = "platform",
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    responses((status = 200, body = VerifyReport), (status = 429, body = ErrorBody, description = "the municipality's batch operations are all running (`platform.concurrent_batches`)"), (status = 500, body = ErrorBody, description = "a chain does not verify; the message says where")))]
pub async fn verify_tenant(
    State(state): State<AppState>,
    _op: OperatorSession,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<VerifyReport>> {
    let code = parse_code("code", &code)?;
    let _batch = crate::quota::start_batch(&state, &code).await?;
    verify_both(&state, &code).await.map(Json)
}

pub(crate) async fn verify_both(state: &AppState, code: &TenantCode) -> ApiResult<VerifyReport> {
    let ts = state.store.tenant(code);
    let ledger = ts.verify(Chain::Ledger).await?;
    let access = ts.verify(Chain::Access).await?;
    Ok(VerifyReport {
        ledger_head_seq: ledger.seq,
        ledger_head_hash: ledger.hash.to_hex(),
        access_head_seq: access.seq,
        access_head_hash: access.hash.to_hex(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct RebuildReport {
    pub entries_replayed: u64,
}

/// Drops a municipality's read models and rebuilds them from its ledger.
#[utoipa::path(post, path = "/api/v1/tenants/{code}/rebuild", tag = "platform",
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    responses((status = 200, body = RebuildReport), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody, description = "the municipality's batch operations are all running (`platform.concurrent_batches`)")))]
pub async fn rebuild_tenant(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<RebuildReport>> {
    let code = parse_code("code", &code)?;
    state.store.tenant_info(&code).await?;
    let _batch = crate::quota::start_batch(&state, &code).await?;
    let n = state.store.tenant(&code).rebuild_projections().await?;
    tracing::info!(tenant = %code, operator = %op.operator_id, entries = n, "projections rebuilt");
    Ok(Json(RebuildReport {
        entries_replayed: n,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PrefectureSetting {
    pub key: String,
    pub value: String,
}

fn parse_prefecture(p: &str) -> ApiResult<String> {
    match p
        .parse::<u8>()
        .ok()
        .and_then(murakumo_core::Prefecture::from_code)
    {
        Some(pref) => Ok(format!("{:02}", pref.code())),
        None => Err(ApiError::invalid(
            "prefecture",
            "都道府県コードを01(北海道)から47(沖縄県)の範囲で入力してください",
        )),
    }
}

/// The 県版 values of a prefecture.
#[utoipa::path(get, path = "/api/v1/prefectures/{prefecture}/settings", tag = "platform",
    params(("prefecture" = String, Path, description = "prefecture code 01–47")),
    responses((status = 200, body = [PrefectureSetting])))]
pub async fn prefecture_settings(
    State(state): State<AppState>,
    _op: OperatorSession,
    ApiPath(prefecture): ApiPath<String>,
) -> ApiResult<Json<Vec<PrefectureSetting>>> {
    let p = parse_prefecture(&prefecture)?;
    let list = state.store.prefecture_settings(&p).await?;
    Ok(Json(
        list.into_iter()
            .map(|(key, value)| PrefectureSetting { key, value })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SetValue {
    /// The new value; `null` clears it (falls back to the tier below).
    pub value: Option<String>,
    /// Why (kept in the history).
    #[serde(default)]
    pub reason: String,
    /// 適用開始日: the value is in force from this date (e.g. the next 年度's 4月1日) until a
    /// later one; today if omitted. Municipal (個別) values only.
    #[serde(default)]
    pub effective_from: Option<chrono::NaiveDate>,
}

/// Sets or clears a 県版 value for all municipalities of a prefecture.
#[utoipa::path(put, path = "/api/v1/prefectures/{prefecture}/settings/{key}", tag = "platform", request_body = SetValue,
    params(("prefecture" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn set_prefecture_setting(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiPath((prefecture, key)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<SetValue>,
) -> ApiResult<axum::http::StatusCode> {
    let p = parse_prefecture(&prefecture)?;
    if req.effective_from.is_some() {
        return Err(ApiError::invalid(
            "effective_from",
            "県版の値は日付ごとには持てません(指定した時から全団体に適用されます)。適用開始日を外してください",
        ));
    }
    let actor = operator(&op);
    murakumo_app::settings::set_prefecture(&state.app(), &actor, &p, &key, req.value.as_deref())
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

fn operator(op: &OperatorSession) -> murakumo_app::Actor {
    murakumo_app::Actor::Operator {
        operator_id: op.operator_id.clone(),
    }
}

/// Sets or clears a municipality's own (個別) value of any setting, the operator's
/// (`platform.*`: its quotas) among them. Recorded in the municipality's ledger with the
/// operator as actor, so its 団体管理者 sees the change and who made it in the history.
#[utoipa::path(put, path = "/api/v1/tenants/{code}/settings/{key}", tag = "platform", request_body = SetValue,
    params(("code" = String, Path, description = "全国地方公共団体コード"), ("key" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_tenant_setting(
    State(state): State<AppState>,
    op: OperatorSession,
    ApiPath((code, key)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<SetValue>,
) -> ApiResult<axum::http::StatusCode> {
    let code = parse_code("code", &code)?;
    let change = murakumo_app::settings::MunicipalChange {
        key: &key,
        value: req.value.as_deref(),
        reason: &req.reason,
        effective_from: req.effective_from,
    };
    murakumo_app::settings::set_municipal(&state.app(), &operator(&op), &code, change).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
