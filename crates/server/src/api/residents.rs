//! 住民記録: reading and recording residents. Every read of personal data
//! is written to the access log before the data leaves the server.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{NaiveDate, Utc};
use murakumo_resident::{MovedIn, Resident, ResidentEvent, validate_move_in};
use murakumo_tenancy::{AccessAction, AccessRecord, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::settings::entry;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::observe::current_request_id;
use crate::session::StaffSession;
use crate::state::AppState;

/// The purpose of an access (利用目的): header `x-purpose` (UTF-8, or
/// percent-encoded UTF-8 as browsers send it), else `照会`.
fn purpose(headers: &HeaderMap) -> String {
    let raw = headers
        .get("x-purpose")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let decoded = percent_decode(&raw).unwrap_or(raw);
    let text: String = decoded
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if text.trim().is_empty() {
        "照会".to_string()
    } else {
        text.trim().to_string()
    }
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) async fn log(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    action: AccessAction,
    subjects: impl IntoIterator<Item = String>,
    detail: &str,
) -> ApiResult<()> {
    let purpose = purpose(headers);
    let request_id = current_request_id();
    let records: Vec<AccessRecord> = subjects
        .into_iter()
        .map(|subject| AccessRecord {
            action,
            subject,
            purpose: purpose.clone(),
            detail: detail.to_string(),
            request_id: request_id.clone(),
        })
        .collect();
    state
        .store
        .tenant(&session.tenant)
        .log_access(&session.actor(), &records)
        .await?;
    metrics::counter!("murakumo_access_log_entries_total").increment(records.len() as u64);
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct ResidentView {
    /// 住民票コード
    pub resident_code: String,
    pub household_id: String,
    pub family_name: String,
    pub given_name: String,
    pub family_kana: String,
    pub given_kana: String,
    pub birth_date: String,
    /// 1 男, 2 女, 9 other
    pub sex_code: u8,
    pub address: String,
    /// 続柄
    pub relationship: String,
}

impl From<Resident> for ResidentView {
    fn from(r: Resident) -> Self {
        ResidentView {
            resident_code: r.resident_code,
            household_id: r.household_id,
            family_name: r.family_name,
            given_name: r.given_name,
            family_kana: r.family_kana,
            given_kana: r.given_kana,
            birth_date: r.birth_date.to_string(),
            sex_code: r.sex_code,
            address: r.address,
            relationship: r.relationship,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Start of the family-name kana (カタカナ), e.g. `ヤマ`.
    pub kana: String,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// Searches residents by the start of their kana name. The search itself is
/// logged, and so is each person shown.
#[utoipa::path(get, path = "/api/v1/residents", tag = "resident", params(SearchQuery),
    responses((status = 200, body = [ResidentView]), (status = 403, body = ErrorBody)))]
pub async fn search_residents(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Vec<ResidentView>>> {
    session.require(Permission::ResidentRead)?;
    let kana = q.kana.trim();
    if kana.is_empty() {
        return Err(ApiError::invalid(
            "kana",
            "give at least one kana character of the family name",
        ));
    }
    let found = state
        .store
        .tenant(&session.tenant)
        .search_residents(kana, q.limit.unwrap_or(50).clamp(1, 200))
        .await?;
    let subjects = std::iter::once(format!("search:kana={kana}")).chain(
        found
            .iter()
            .map(|r| format!("resident:{}", r.resident_code)),
    );
    log(
        &state,
        &session,
        &headers,
        AccessAction::Search,
        subjects,
        "name,kana,birth_date,address",
    )
    .await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

/// How many residents are registered (no personal data).
#[utoipa::path(get, path = "/api/v1/residents/count", tag = "resident",
    responses((status = 200, body = Count), (status = 403, body = ErrorBody)))]
pub async fn count_residents(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<Count>> {
    session.require(Permission::ResidentRead)?;
    Ok(Json(Count {
        count: state
            .store
            .tenant(&session.tenant)
            .count_residents()
            .await?,
    }))
}

/// One resident by 住民票コード.
#[utoipa::path(get, path = "/api/v1/residents/{resident_code}", tag = "resident",
    params(("resident_code" = String, Path, description = "住民票コード (11 digits)")),
    responses((status = 200, body = ResidentView), (status = 404, body = ErrorBody)))]
pub async fn get_resident(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<ResidentView>> {
    session.require(Permission::ResidentRead)?;
    let code = murakumo_core::ResidentCode::parse(&code)
        .map_err(|e| ApiError::invalid("resident_code", e.to_string()))?;
    let r = state
        .store
        .tenant(&session.tenant)
        .resident(code.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::not_found("no resident with this 住民票コード in your municipality")
        })?;
    log(
        &state,
        &session,
        &headers,
        AccessAction::Read,
        [format!("resident:{}", r.resident_code)],
        "all",
    )
    .await?;
    Ok(Json(r.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct MoveInRequest {
    pub resident_code: String,
    pub household_id: String,
    pub family_name: String,
    #[serde(default)]
    pub given_name: String,
    pub family_kana: String,
    #[serde(default)]
    pub given_kana: String,
    /// YYYY-MM-DD
    pub birth_date: NaiveDate,
    pub sex_code: u8,
    pub address: String,
    pub relationship: String,
    /// 異動日 (YYYY-MM-DD); today if omitted.
    pub effective_date: Option<NaiveDate>,
}

/// Records a 転入 (move-in).
#[utoipa::path(post, path = "/api/v1/residents", tag = "resident", request_body = MoveInRequest,
    responses((status = 200, body = ResidentView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn move_in(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiJson(req): ApiJson<MoveInRequest>,
) -> ApiResult<Json<ResidentView>> {
    session.require(Permission::ResidentChange)?;
    let today = Utc::now().date_naive();
    let m = MovedIn {
        resident_code: req.resident_code.trim().to_string(),
        household_id: req.household_id.trim().to_string(),
        family_name: req.family_name.trim().to_string(),
        given_name: req.given_name.trim().to_string(),
        family_kana: req.family_kana.trim().to_string(),
        given_kana: req.given_kana.trim().to_string(),
        birth_date: req.birth_date,
        sex_code: req.sex_code,
        address: req.address.trim().to_string(),
        relationship: req.relationship.trim().to_string(),
    };
    validate_move_in(&m, today).map_err(
        |murakumo_resident::ResidentError::Invalid { field, reason }| {
            ApiError::invalid(field, reason)
        },
    )?;
    let effective = req.effective_date.unwrap_or(today);
    if effective > today {
        return Err(ApiError::invalid(
            "effective_date",
            "異動日 cannot be in the future",
        ));
    }
    let mut e = entry(&session, &ResidentEvent::MovedIn(m.clone()));
    e.effective_date = effective;
    state.store.tenant(&session.tenant).append(vec![e]).await?;
    metrics::counter!("murakumo_ledger_entries_appended_total").increment(1);
    log(
        &state,
        &session,
        &headers,
        AccessAction::Change,
        [format!("resident:{}", m.resident_code)],
        "move_in",
    )
    .await?;
    let r = state
        .store
        .tenant(&session.tenant)
        .resident(&m.resident_code)
        .await?
        .ok_or_else(|| ApiError::internal("recorded resident not found"))?;
    Ok(Json(r.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_header() {
        let mut h = HeaderMap::new();
        assert_eq!(purpose(&h), "照会");
        h.insert("x-purpose", "%E4%BA%A4%E4%BB%98".parse().expect("header"));
        assert_eq!(purpose(&h), "交付");
        h.insert(
            "x-purpose",
            axum::http::HeaderValue::from_bytes("窓口".as_bytes()).expect("header"),
        );
        assert_eq!(purpose(&h), "窓口");
        h.insert("x-purpose", "%ZZ".parse().expect("header"));
        assert_eq!(purpose(&h), "%ZZ");
    }
}
