//! The caller's municipality's chains: head and verification.

use axum::Json;
use axum::extract::State;
use murakumo_store::Chain;
use murakumo_tenancy::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use super::platform::{VerifyReport, verify_both};
use crate::error::{ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HeadView {
    pub seq: u64,
    pub hash: String,
}

/// The newest entry of the municipality's ledger.
#[utoipa::path(get, path = "/api/v1/ledger/head", tag = "tenant",
    responses((status = 200, body = HeadView), (status = 403, body = ErrorBody)))]
pub async fn ledger_head(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<HeadView>> {
    session.require(Permission::LedgerVerify)?;
    let h = state
        .store
        .tenant(&session.tenant)
        .head(Chain::Ledger)
        .await?;
    Ok(Json(HeadView {
        seq: h.seq,
        hash: h.hash.to_hex(),
    }))
}

/// Verifies the municipality's ledger and access log chains.
#[utoipa::path(post, path = "/api/v1/ledger/verify", tag = "tenant",
    responses((status = 200, body = VerifyReport), (status = 429, body = ErrorBody, description = "the municipality's batch operations are all running (`platform.concurrent_batches`)"), (status = 500, body = ErrorBody)))]
pub async fn verify_ledger(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<VerifyReport>> {
    session.require(Permission::LedgerVerify)?;
    let _batch = crate::quota::start_batch(&state, &session.tenant).await?;
    verify_both(&state, &session.tenant).await.map(Json)
}
