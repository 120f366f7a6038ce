//! The access log, for auditors.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use murakumo_store::{AccessFilter, AccessLogRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
pub struct AccessQuery {
    /// `staff:<id>`
    pub actor: Option<String>,
    /// e.g. `resident:12345678901`
    pub subject: Option<String>,
    /// read, search, change, issue, export
    pub action: Option<String>,
    /// RFC 3339, inclusive
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive
    pub to: Option<DateTime<Utc>>,
    /// 1–10000, default 200
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessLogView {
    pub seq: u64,
    pub recorded_at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub purpose: String,
    pub detail: String,
    pub request_id: String,
}

impl From<AccessLogRow> for AccessLogView {
    fn from(r: AccessLogRow) -> Self {
        AccessLogView {
            seq: r.seq,
            recorded_at: r.recorded_at.to_rfc3339(),
            actor: r.actor,
            action: r.action,
            subject: r.subject,
            purpose: r.purpose,
            detail: r.detail,
            request_id: r.request_id,
        }
    }
}

/// Searches the access log of the caller's municipality, newest first. A
/// record that cannot be read is listed in its place with action
/// `unreadable` and why, never failing the search.
#[utoipa::path(get, path = "/api/v1/access-log", tag = "audit", params(AccessQuery),
    responses((status = 200, body = [AccessLogView]), (status = 403, body = ErrorBody)))]
pub async fn search_access_log(
    State(state): State<AppState>,
    session: StaffSession,
    ApiQuery(q): ApiQuery<AccessQuery>,
) -> ApiResult<Json<Vec<AccessLogView>>> {
    let filter = AccessFilter {
        actor: q.actor,
        subject: q.subject,
        action: q.action,
        from: q.from,
        to: q.to,
        limit: q.limit.unwrap_or(200),
        ..AccessFilter::default()
    };
    // A search of the log is not itself logged: no request purpose to record.
    let actor = session.acting(&axum::http::HeaderMap::new());
    let rows = murakumo_app::access::search(&state.app(), &actor, &filter).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}
