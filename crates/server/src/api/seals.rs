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
use murakumo_seal::{CancelReason, SealRecord, SealStatus};
use murakumo_seal_store::SealReads;
use murakumo_tenancy::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;
use murakumo_app::seals;

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
    let q = seals::Search {
        registration_number: q.registration_number,
        card_number: q.card_number,
        resident_code: q.resident_code,
        include_cancelled: q.include_cancelled,
    };
    Ok(seals::search(&state.app(), &session.acting(headers), q).await?)
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
    let reg = seals::Registration {
        resident_code: resident_code.to_string(),
        card_number: card_number.to_string(),
        impression_png: png,
        effective_date: effective,
        notified_date: notified,
    };
    Ok(seals::register(&state.app(), &session.acting(headers), reg).await?)
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
    let actor = session.acting(headers);
    Ok(seals::cancel(&state.app(), &actor, number, reason, effective, notified).await?)
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
    let png = seals::impression(&state.app(), &session.acting(&headers), &number).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// One 印鑑登録証明書 issued.
#[derive(Serialize, ToSchema)]
pub struct IssuanceView {
    /// 発行番号
    pub issue_number: String,
    /// 交付日
    pub issue_date: String,
    /// 交付者 (`staff:…`)
    pub actor: String,
}

/// 交付履歴 (M-INKAN-20): the 印鑑登録証明書 issued for the registrant of a registration,
/// oldest first. The view is logged; the 請求者 and 利用目的 of each are in the access log
/// under its 発行番号.
#[utoipa::path(get, path = "/api/v1/seals/{registration_number}/issuances", tag = "seal",
    params(("registration_number" = String, Path, description = "印鑑登録番号")),
    responses((status = 200, body = [IssuanceView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn seal_issuances(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<Json<Vec<IssuanceView>>> {
    Ok(Json(issuances(&state, &session, &headers, &number).await?))
}

/// [`seal_issuances`], for the API and the registration's screen.
pub(crate) async fn issuances(
    state: &AppState,
    session: &StaffSession,
    headers: &HeaderMap,
    number: &str,
) -> ApiResult<Vec<IssuanceView>> {
    let rows = seals::issuances(&state.app(), &session.acting(headers), number).await?;
    Ok(rows
        .into_iter()
        .map(|r| IssuanceView {
            issue_number: r.issue_number,
            issue_date: r.issue_date,
            actor: r.actor,
        })
        .collect())
}

/// 印鑑登録抹消通知書 (M-INKAN-19): the notice to the registrant of a registration the
/// municipality ended (職権抹消: 転出, 死亡, 氏名変更 …), as a PDF to print and send — to the
/// 転出先 of one who moved out. Logged as an export of the registrant's 氏名 and 住所. A
/// registration in force, or ended at the registrant's request, has none (409).
#[utoipa::path(get, path = "/api/v1/seals/{registration_number}/removal-notice", tag = "seal",
    params(("registration_number" = String, Path, description = "印鑑登録番号")),
    responses((status = 200, description = "PDF", content_type = "application/pdf"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn seal_removal_notice(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<Response> {
    use murakumo_documents::{Report, ReportTable, wareki};
    let n = seals::removal_notice(&state.app(), &session.acting(&headers), &number).await?;
    let today = murakumo_core::today_in_japan();
    let report = Report {
        title: "印鑑登録抹消通知書".into(),
        subtitle: format!("{}　{}　{}", wareki(today), n.municipality, n.issuer),
        tables: vec![ReportTable {
            caption: format!(
                "{} 様　あなたの印鑑登録を次のとおり抹消しましたので通知します。",
                n.name
            ),
            // One column: the report's label column is the wide, left-aligned one.
            columns: vec!["抹消した印鑑登録".into()],
            rows: [
                ("氏名", n.name.clone()),
                ("住所(送付先)", n.address.clone()),
                ("印鑑登録番号", n.registration_number.clone()),
                ("登録日", wareki(n.registered_on)),
                ("抹消日", wareki(n.cancelled_on)),
                ("抹消の事由", n.reason.clone()),
            ]
            .into_iter()
            .map(|(item, value)| vec![format!("{item}：{value}")])
            .collect(),
        }],
        created: today,
    };
    super::statistics::pdf(report, &format!("seal-removal-{number}.pdf")).await
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
    let actor = session.acting(&HeaderMap::new());
    Ok(seals::set_official_seal(&state.app(), &actor, png, reason).await?)
}
