//! 印鑑登録: registering seals, cancelling them (廃止・亡失), looking them up
//! (cancelled ones too), their 印影, and the municipality's 公印 image.
//! 印鑑登録証明書 is issued by `certificates.rs` (kind `seal`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::NaiveDate;
use murakumo_seal::{
    CancelReason, Context, OfficialSealSet, SealError, SealEvent, SealRecord, SealStatus,
};
use murakumo_store::SealQuery;
use murakumo_tenancy::{AccessAction, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::protection;
use super::residents::log;
use super::settings::entry;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

/// A registration as shown to staff.
#[derive(Serialize, ToSchema)]
pub struct SealView {
    /// 印鑑登録番号
    pub registration_number: String,
    /// 住民票コード of the registrant
    pub resident_code: String,
    /// 印鑑登録証番号
    pub card_number: String,
    /// 登録日
    pub registered_on: NaiveDate,
    /// `active` or `cancelled`
    pub status: String,
    pub cancelled_on: Option<NaiveDate>,
    /// 廃止, 亡失 or 職権抹消(…)
    pub cancel_reason: Option<String>,
}

pub(crate) fn seal_view(r: &SealRecord) -> SealView {
    let (status, on, reason) = match &r.status {
        SealStatus::Active => ("active", None, None),
        SealStatus::Cancelled { date, reason } => {
            ("cancelled", Some(*date), Some(reason.label_ja()))
        }
    };
    SealView {
        registration_number: r.registration_number.clone(),
        resident_code: r.resident_code.clone(),
        card_number: r.card_number.clone(),
        registered_on: r.registered_on,
        status: status.into(),
        cancelled_on: on,
        cancel_reason: reason,
    }
}

pub(crate) fn seal_error(e: SealError) -> ApiError {
    match e {
        SealError::Invalid { field, reason } => ApiError::invalid(field, reason),
        SealError::NotFound(_) => ApiError::not_found(e.to_string()),
        SealError::Conflict(m) => ApiError::conflict(m),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct SealSearch {
    /// 印鑑登録番号
    pub registration_number: Option<String>,
    /// 印鑑登録証番号
    pub card_number: Option<String>,
    /// 住民票コード
    pub resident_code: Option<String>,
    /// Include cancelled registrations (廃止・亡失・職権抹消).
    #[serde(default)]
    pub include_cancelled: bool,
}

/// Searches registrations by number, card or registrant; cancelled ones
/// too when asked. The search is logged.
#[utoipa::path(get, path = "/api/v1/seals", tag = "seal", params(SealSearch),
    responses((status = 200, body = [SealView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn search_seals(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SealSearch>,
) -> ApiResult<Json<Vec<SealView>>> {
    session.require(Permission::ResidentRead)?;
    let found = search(&state, &session, &headers, q).await?;
    Ok(Json(found.iter().map(seal_view).collect()))
}

pub(crate) async fn search(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    q: SealSearch,
) -> ApiResult<Vec<SealRecord>> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if !given(&q.registration_number) && !given(&q.card_number) && !given(&q.resident_code) {
        return Err(ApiError::invalid(
            "registration_number",
            "give a 印鑑登録番号, a 印鑑登録証番号 or a 住民票コード",
        ));
    }
    let query = SealQuery {
        registration_number: q.registration_number.clone(),
        card_number: q.card_number.clone(),
        resident_code: q.resident_code.clone(),
        include_cancelled: q.include_cancelled,
        limit: 100,
    };
    let ts = state.store.tenant(&session.tenant);
    // A registration leads to its registrant: people under 支援措置 are
    // left out for staff without the right, as in a resident search.
    let mut found = Vec::new();
    let mut unmasked = Vec::new();
    for reg in ts.search_seals(&query).await? {
        match ts.resident(&reg.resident_code).await? {
            Some(r) if !protection::visible(session, &r) => continue,
            Some(r) => unmasked.push(r),
            None => {}
        }
        found.push(reg);
    }
    let described = [
        ("registration_number", &q.registration_number),
        ("card_number", &q.card_number),
        ("resident_code", &q.resident_code),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join("&");
    let subjects = std::iter::once(format!("seal-search:{described}")).chain(
        found
            .iter()
            .map(|r| format!("resident:{}", r.resident_code)),
    );
    log(
        state,
        session,
        headers,
        AccessAction::Search,
        subjects,
        "seal",
    )
    .await?;
    protection::log_unmasked(state, session, headers, &unmasked).await?;
    Ok(found)
}

#[derive(Deserialize, ToSchema)]
pub struct SealRegistration {
    /// 住民票コード of the registrant (15 or older, a current resident).
    pub resident_code: String,
    /// 印鑑登録証番号 of the card handed over.
    pub card_number: String,
    /// 印影 as a base64 PNG.
    pub impression_png: String,
    /// 登録日; today if omitted.
    pub effective_date: Option<NaiveDate>,
    /// 申請日; today if omitted.
    pub notified_date: Option<NaiveDate>,
}

/// Registers a seal (印鑑登録) and returns the registration with its new
/// 印鑑登録番号.
#[utoipa::path(post, path = "/api/v1/seals", tag = "seal", request_body = SealRegistration,
    responses((status = 200, body = SealView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register_seal(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SealRegistration>,
) -> ApiResult<Json<SealView>> {
    session.require(Permission::ResidentChange)?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(req.impression_png.trim())
        .map_err(|e| ApiError::invalid("impression_png", format!("not base64: {e}")))?;
    register(
        &state,
        &session,
        &headers,
        req.resident_code.trim(),
        req.card_number.trim(),
        png,
        req.effective_date,
        req.notified_date,
    )
    .await
    .map(|r| Json(seal_view(&r)))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn register(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    resident_code: &str,
    card_number: &str,
    png: Vec<u8>,
    effective: Option<NaiveDate>,
    notified: Option<NaiveDate>,
) -> ApiResult<SealRecord> {
    let ts = state.store.tenant(&session.tenant);
    let today = murakumo_core::today_in_japan();
    let effective = effective.unwrap_or(today);
    let resident = ts.resident(resident_code).await?;
    if let Some(r) = &resident {
        protection::admit(state, session, headers, r, AccessAction::Change).await?;
    }
    let existing = ts.seals_of_resident(resident_code).await?;
    // A card number is issued once: one returned (廃止) or reported lost (亡失) never
    // stands for a registration again.
    let card_in_use = !ts
        .search_seals(&SealQuery {
            card_number: Some(card_number.to_string()),
            include_cancelled: true,
            limit: 1,
            ..Default::default()
        })
        .await?
        .is_empty();
    let mut event = SealEvent::Registered {
        registration_number: String::new(),
        resident_code: resident_code.to_string(),
        card_number: card_number.to_string(),
        impression_png: png,
        notified_date: notified.unwrap_or(today),
    };
    let ctx = Context {
        resident: resident.as_ref(),
        registration: None,
        active_of_resident: existing.iter().find(|r| r.is_active()),
        card_in_use,
        scanned_at_counter: true,
    };
    murakumo_seal::validate(&event, &ctx, effective, today).map_err(seal_error)?;
    if effective != today {
        // A back-dated registration must also hold on its 登録日 (age,
        // residence), as a migration import checks it: otherwise an
        // export of this register would not import again.
        let then = ts.resident_as_of(resident_code, effective).await?;
        let ctx = Context {
            resident: then.as_ref(),
            ..ctx
        };
        murakumo_seal::validate(&event, &ctx, effective, today).map_err(seal_error)?;
    }
    // The number is taken only for a valid request: a refused one changes
    // nothing, not even the counter.
    let number = ts.next_seal_number().await?;
    if let SealEvent::Registered {
        registration_number,
        ..
    } = &mut event
    {
        *registration_number = number.clone();
    }
    let mut e = entry(session, &event);
    e.effective_date = effective;
    ts.append(vec![e]).await?;
    log(
        state,
        session,
        headers,
        AccessAction::Change,
        [format!("resident:{resident_code}")],
        &event.label_ja(),
    )
    .await?;
    ts.seal(&number)
        .await?
        .ok_or_else(|| ApiError::internal("the recorded registration was not found"))
}

#[derive(Deserialize, ToSchema)]
pub struct SealCancellation {
    /// `abolished` (廃止), `card_lost` (亡失) or `ex_officio` (職権抹消).
    pub reason: String,
    /// The reason of a 職権抹消.
    pub note: Option<String>,
    /// 廃止日; today if omitted.
    pub effective_date: Option<NaiveDate>,
    /// 届出日; today if omitted.
    pub notified_date: Option<NaiveDate>,
}

/// Ends a registration: 廃止, 亡失 (the card is then void) or 職権抹消.
#[utoipa::path(post, path = "/api/v1/seals/{registration_number}/cancel", tag = "seal", request_body = SealCancellation,
    params(("registration_number" = String, Path, description = "印鑑登録番号")),
    responses((status = 200, body = SealView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_seal(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(number): ApiPath<String>,
    ApiJson(req): ApiJson<SealCancellation>,
) -> ApiResult<Json<SealView>> {
    session.require(Permission::ResidentChange)?;
    let reason = match req.reason.as_str() {
        "abolished" => CancelReason::Abolished,
        "card_lost" => CancelReason::CardLost,
        "ex_officio" => {
            session.require(Permission::ResidentSupervise)?;
            CancelReason::ExOfficio {
                reason: req.note.clone().unwrap_or_default(),
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "reason",
                "use abolished (廃止), card_lost (亡失) or ex_officio (職権抹消)",
            ));
        }
    };
    cancel(
        &state,
        &session,
        &headers,
        &number,
        reason,
        req.effective_date,
        req.notified_date,
    )
    .await
    .map(|r| Json(seal_view(&r)))
}

pub(crate) async fn cancel(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    number: &str,
    reason: CancelReason,
    effective: Option<NaiveDate>,
    notified: Option<NaiveDate>,
) -> ApiResult<SealRecord> {
    let ts = state.store.tenant(&session.tenant);
    let today = murakumo_core::today_in_japan();
    let effective = effective.unwrap_or(today);
    let registration = ts.seal(number).await?;
    if let Some(reg) = &registration {
        protection::admit_code(
            state,
            session,
            headers,
            &reg.resident_code,
            AccessAction::Change,
        )
        .await?;
    }
    let event = SealEvent::Cancelled {
        registration_number: number.to_string(),
        resident_code: registration
            .as_ref()
            .map(|r| r.resident_code.clone())
            .unwrap_or_default(),
        reason,
        notified_date: notified.unwrap_or(today),
    };
    let ctx = Context {
        resident: None,
        registration: registration.as_ref(),
        active_of_resident: None,
        card_in_use: false,
        scanned_at_counter: true,
    };
    murakumo_seal::validate(&event, &ctx, effective, today).map_err(seal_error)?;
    let mut e = entry(session, &event);
    e.effective_date = effective;
    ts.append(vec![e]).await?;
    log(
        state,
        session,
        headers,
        AccessAction::Change,
        [format!("resident:{}", event.resident_code())],
        &event.label_ja(),
    )
    .await?;
    ts.seal(number)
        .await?
        .ok_or_else(|| ApiError::internal("the cancelled registration was not found"))
}

/// The 職権抹消 that goes with removing a resident (転出, 死亡, 職権消除):
/// appended in the same ledger batch as the removal.
pub(crate) async fn cancellations_on_removal(
    state: &AppState,
    session: &StaffSession,
    resident_code: &str,
    why: &str,
) -> ApiResult<Vec<murakumo_ledger::NewEntry>> {
    let today = murakumo_core::today_in_japan();
    Ok(state
        .store
        .tenant(&session.tenant)
        .seals_of_resident(resident_code)
        .await?
        .into_iter()
        .filter(SealRecord::is_active)
        .map(|r| {
            entry(
                session,
                &SealEvent::Cancelled {
                    registration_number: r.registration_number,
                    resident_code: resident_code.to_string(),
                    reason: CancelReason::ExOfficio {
                        reason: why.to_string(),
                    },
                    notified_date: today,
                },
            )
        })
        .collect())
}

/// The 印影 of a registration (PNG). The view is logged.
#[utoipa::path(get, path = "/api/v1/seals/{registration_number}/impression", tag = "seal",
    params(("registration_number" = String, Path, description = "印鑑登録番号")),
    responses((status = 200, description = "PNG", content_type = "image/png"), (status = 404, body = ErrorBody)))]
pub async fn seal_impression(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<Response> {
    session.require(Permission::ResidentRead)?;
    let ts = state.store.tenant(&session.tenant);
    let (Some(r), Some(png)) = (ts.seal(&number).await?, ts.seal_impression(&number).await?) else {
        return Err(ApiError::not_found(
            "この印鑑登録番号の登録は、この団体にありません。印鑑登録番号を確認してください",
        ));
    };
    protection::admit_code(
        &state,
        &session,
        &headers,
        &r.resident_code,
        AccessAction::Read,
    )
    .await?;
    log(
        &state,
        &session,
        &headers,
        AccessAction::Read,
        [format!("resident:{}", r.resident_code)],
        "印影",
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// The municipality's 公印 image (PNG) printed on certificates.
#[utoipa::path(get, path = "/api/v1/official-seal", tag = "tenant",
    responses((status = 200, description = "PNG", content_type = "image/png"), (status = 404, body = ErrorBody)))]
pub async fn get_official_seal(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Response> {
    let png = state
        .store
        .tenant(&session.tenant)
        .official_seal()
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "公印がまだ登録されていません。団体管理者が「公印の登録」で登録してください",
            )
        })?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Registers or replaces the 公印 image (body: the PNG; header `x-reason`: why, percent-encoded
/// UTF-8 — required when a 公印 is replaced).
#[utoipa::path(put, path = "/api/v1/official-seal", tag = "tenant",
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_official_seal(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::http::StatusCode> {
    // Percent-encoded UTF-8 (a header holds ASCII), like `x-purpose`.
    let reason = headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .map(|v| super::residents::percent_decode(v).unwrap_or_else(|| v.to_string()));
    store_official_seal(&state, &session, body.to_vec(), reason).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

pub(crate) async fn store_official_seal(
    state: &AppState,
    session: &StaffSession,
    png: Vec<u8>,
    reason: Option<String>,
) -> ApiResult<()> {
    session.require(Permission::SettingsManage)?;
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let replacing = state
        .store
        .tenant(&session.tenant)
        .official_seal()
        .await?
        .is_some();
    let reason = match (reason, replacing) {
        (Some(r), _) => r,
        (None, false) => "公印の登録".to_string(),
        (None, true) => {
            return Err(ApiError::invalid(
                "reason",
                "公印を変更するときは変更の理由を入力してください(例: 新市長就任)",
            ));
        }
    };
    murakumo_seal::check_impression(&png)
        .map_err(|e| ApiError::invalid("body", e.to_string().replace("印影", "公印")))?;
    let event = OfficialSealSet { png, reason };
    state
        .store
        .tenant(&session.tenant)
        .append(vec![entry(session, &event)])
        .await?;
    state.cache.official_seal.forget(Some(&session.tenant));
    Ok(())
}
