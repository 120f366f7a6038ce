//! 住民記録: reading and recording residents. Every read of personal data
//! is written to the access log before the data leaves the server.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::NaiveDate;
use murakumo_core::{format_japan_time, today_in_japan};
use murakumo_resident::{HEAD, Record, Status, Warning};
use murakumo_resident_store::ResidentQuery;
use murakumo_resident_store::ResidentReads;
use murakumo_tenancy::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;
use murakumo_app::{register, residents};

/// The purpose of an access (利用目的): header `x-purpose` (UTF-8, or
/// percent-encoded UTF-8 as browsers send it), else `照会`.
pub(crate) fn purpose(headers: &HeaderMap) -> String {
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

pub(crate) fn percent_decode(s: &str) -> Option<String> {
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

/// A resident as shown to staff who were admitted to the record (see
/// [`super::protection`]): staff without the right never get a view of a
/// person under 支援措置.
#[derive(Serialize, ToSchema)]
pub struct ResidentView {
    /// 住民票コード
    pub resident_code: String,
    /// `current`, `moving_out` (転出予定) or `removed` (除票).
    pub status: String,
    pub household_id: Option<String>,
    /// 続柄
    pub relationship: Option<String>,
    pub name: Option<String>,
    pub kana: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// 外国人住民: screens show the 生年月日 in 西暦 (標準仕様書 §1.1.9).
    pub foreign: Option<bool>,
    /// 1 男, 2 女, 9
    pub sex_code: Option<u8>,
    pub address: Option<String>,
    /// 方書
    pub katagaki: Option<String>,
    /// 住民となった年月日
    pub became_resident: Option<NaiveDate>,
    /// 支援措置 in force.
    pub protected: Option<bool>,
    /// The full record.
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

/// One person in a search result: only the items a result list shows, and
/// exactly those named in the search's access-log records
/// ([`murakumo_app::register::SEARCH_ITEMS`]).
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    /// 住民票コード
    pub resident_code: String,
    /// `current`, `moving_out` (転出予定) or `removed` (除票).
    pub status: String,
    pub name: String,
    pub kana: String,
    pub birth_date: NaiveDate,
    /// 1 男, 2 女, 9
    pub sex_code: u8,
    pub address: String,
    /// 方書
    pub katagaki: String,
    /// Whether the person is the 世帯主 (the 続柄 itself is not a search result's item).
    pub household_head: bool,
}

impl SearchHit {
    fn of(r: &Record) -> SearchHit {
        SearchHit {
            resident_code: r.resident_code.clone(),
            status: status_code(r).into(),
            name: r.full_name(),
            kana: r.full_kana(),
            birth_date: r.person.birth_date,
            sex_code: r.person.sex.code(),
            address: r.address.text.clone(),
            katagaki: r.address.katagaki.clone(),
            household_head: r.relationship == HEAD,
        }
    }
}

fn status_code(r: &Record) -> &'static str {
    match r.status {
        Status::Current => "current",
        Status::MovingOut { .. } => "moving_out",
        Status::Removed { .. } => "removed",
    }
}

/// A [`status_code`] as staff read it.
pub(crate) fn status_label(code: &str) -> &'static str {
    match code {
        "removed" => "除票",
        "moving_out" => "転出予定",
        _ => "住民",
    }
}

/// A 性別 code as staff read it (9, 記載しない: blank).
pub(crate) fn sex_label(code: u8) -> &'static str {
    murakumo_resident::Sex::from_code(code).map_or("", murakumo_resident::Sex::label_ja)
}

/// The whole record, for staff admitted to it.
fn view(r: &Record) -> ResidentView {
    ResidentView {
        resident_code: r.resident_code.clone(),
        status: status_code(r).into(),
        household_id: Some(r.household_id.clone()),
        relationship: Some(r.relationship.clone()),
        name: Some(r.full_name()),
        kana: Some(r.full_kana()),
        birth_date: Some(r.person.birth_date),
        foreign: Some(r.person.is_foreign()),
        sex_code: Some(r.person.sex.code()),
        address: Some(r.address.text.clone()),
        katagaki: Some(r.address.katagaki.clone()),
        became_resident: Some(r.became_resident),
        protected: Some(r.protected_on(murakumo_app::protection::today())),
        record: serde_json::to_value(r).ok(),
    }
}

/// One of the caller's earlier searches.
#[derive(Serialize, ToSchema)]
pub struct PastSearchView {
    /// When, Japan time (`2026-11-24 08:30:00`).
    pub searched_at: String,
    pub kana: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// 宛名番号
    pub addressee_number: Option<String>,
}

/// 検索履歴 (標準仕様書 §2.1.1): the caller's own latest resident searches (up to 20 in the
/// last 7 days), newest first, each set of conditions once; `GET /api/v1/residents` with
/// them searches again. Nobody else's searches are shown.
#[utoipa::path(get, path = "/api/v1/search-history", tag = "resident",
    responses((status = 200, body = [PastSearchView]), (status = 403, body = ErrorBody)))]
pub async fn search_history(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<PastSearchView>>> {
    let past = register::search_history(&state.app(), &session.acting(&headers)).await?;
    Ok(Json(
        past.into_iter()
            .map(|p| PastSearchView {
                searched_at: format_japan_time(p.searched_at),
                kana: p.conditions.kana,
                name: p.conditions.name,
                address: p.conditions.address,
                birth_date: p.conditions.birth_date,
                addressee_number: p.conditions.addressee_number,
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct InspectionQuery {
    /// The area: an address from its 都道府県, e.g. a 町字 (`北海道深川市1条`).
    pub address: String,
}

/// One person of a 閲覧用の写し: the four items 住基法 第11条 opens to 閲覧.
#[derive(Serialize, ToSchema)]
pub struct InspectionLine {
    pub name: String,
    pub birth_date: NaiveDate,
    /// 1 男, 2 女, 9
    pub sex_code: u8,
    pub address: String,
    /// 方書
    pub katagaki: String,
}

/// 住民基本台帳の一部の写し (閲覧用): 氏名・生年月日・性別・住所 of the current residents of an
/// area, in address order. A person under 支援措置 is never listed, whoever asks (標準仕様書
/// §3.4/M2). Each person listed is logged as a read of those items.
#[utoipa::path(get, path = "/api/v1/inspection-copy", tag = "resident", params(InspectionQuery),
    responses((status = 200, body = [InspectionLine]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn inspection_copy(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<InspectionQuery>,
) -> ApiResult<Json<Vec<InspectionLine>>> {
    let listed =
        register::inspection_copy(&state.app(), &session.acting(&headers), &q.address).await?;
    Ok(Json(
        listed
            .iter()
            .map(|r| InspectionLine {
                name: r.full_name(),
                birth_date: r.person.birth_date,
                sex_code: r.person.sex.code(),
                address: r.address.text.clone(),
                katagaki: r.address.katagaki.clone(),
            })
            .collect(),
    ))
}

/// A resident whose 支援措置 ends soon.
#[derive(Serialize, ToSchema)]
pub struct ProtectionEnding {
    /// 住民票コード
    pub resident_code: String,
    pub name: String,
    pub kana: String,
    pub birth_date: NaiveDate,
    pub address: String,
    /// The last day of the term.
    pub until: NaiveDate,
}

/// 支援措置の期限が近い住民 (標準仕様書 §3.4/M3): those whose term ends within a month from
/// today, soonest first. Their extension (延長) can be asked for now: `POST
/// /api/v1/residents/{code}/changes` with `protect` and no `until` extends by a year. Only
/// for staff who may see protected residents; each person listed is logged as a read.
#[utoipa::path(get, path = "/api/v1/protections/ending", tag = "resident",
    responses((status = 200, body = [ProtectionEnding]), (status = 403, body = ErrorBody)))]
pub async fn protections_ending(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<ProtectionEnding>>> {
    let records =
        murakumo_app::protection::ending_soon(&state.app(), &session.acting(&headers)).await?;
    Ok(Json(
        records
            .iter()
            .filter_map(|r| {
                Some(ProtectionEnding {
                    resident_code: r.resident_code.clone(),
                    name: r.full_name(),
                    kana: r.full_kana(),
                    birth_date: r.person.birth_date,
                    address: r.address.text.clone(),
                    until: r.protection.as_ref()?.until,
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Start of the kana name (氏 or 氏名; small/large kana and half-width are folded), e.g. `ヤマ`.
    pub kana: Option<String>,
    /// Start of the kanji name (common 異体字 are folded: 髙→高).
    pub name: Option<String>,
    /// 生年月日 (YYYY-MM-DD).
    pub birth_date: Option<NaiveDate>,
    /// The address from its beginning (with the 都道府県: a prefix match), or a part of it (a
    /// 町字 and 番地 such as `3条3番`: found anywhere in the address).
    pub address: Option<String>,
    /// 宛名番号 (15 digits), exactly.
    pub addressee_number: Option<String>,
    /// Include 除票 (removed records).
    #[serde(default)]
    pub include_removed: bool,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// Searches residents: the API and the staff screen both come here. Only
/// the items of [`SearchHit`] are returned; people under 支援措置 are left
/// out for staff without the right to see them. The search is logged, and
/// so is each person shown (with the items shown).
#[utoipa::path(get, path = "/api/v1/residents", tag = "resident", params(SearchQuery),
    responses((status = 200, body = [SearchHit]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn search_residents(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Vec<SearchHit>>> {
    let found = register::search(&state.app(), &session.acting(&headers), &q.into()).await?;
    Ok(Json(found.iter().map(SearchHit::of).collect()))
}

impl From<SearchQuery> for ResidentQuery {
    fn from(q: SearchQuery) -> ResidentQuery {
        ResidentQuery {
            kana: q.kana,
            name: q.name,
            birth_date: q.birth_date,
            address: q.address,
            addressee_number: q.addressee_number,
            include_removed: q.include_removed,
            limit: q.limit.unwrap_or(50).clamp(1, 200),
        }
    }
}

/// 検索結果の CSV 出力 (標準仕様書 §2.1.3/M3): the people a search finds (the conditions of
/// `GET /api/v1/residents`), with the items of a search result, as CSV (UTF-8 with a BOM,
/// for spreadsheets). Logged as the search and as an export (出力) of each person listed.
#[utoipa::path(get, path = "/api/v1/residents.csv", tag = "resident", params(SearchQuery),
    responses((status = 200, content_type = "text/csv"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export_residents(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<axum::response::Response> {
    use super::statistics::{csv, field};
    let found = register::export(&state.app(), &session.acting(&headers), &q.into()).await?;
    let mut out =
        String::from("住民票コード,状態,氏名,フリガナ,生年月日,性別,住所,方書,世帯主\r\n");
    for r in &found {
        let hit = SearchHit::of(r);
        let cells = [
            hit.resident_code,
            status_label(&hit.status).to_string(),
            hit.name,
            hit.kana,
            hit.birth_date.to_string(),
            sex_label(hit.sex_code).to_string(),
            hit.address,
            hit.katagaki,
            if hit.household_head { "世帯主" } else { "" }.to_string(),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok(csv(&out, "residents.csv"))
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
    headers: HeaderMap,
) -> ApiResult<Json<Count>> {
    Ok(Json(Count {
        count: register::count(&state.app(), &session.acting(&headers)).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct AsOfQuery {
    /// The record as it stood on this date (YYYY-MM-DD); today if omitted.
    pub as_of: Option<NaiveDate>,
}

fn parse_code(code: &str) -> ApiResult<String> {
    murakumo_core::ResidentCode::parse(code)
        .map(|c| c.as_str().to_string())
        .map_err(|e| ApiError::invalid("resident_code", e.message_ja()))
}

/// One resident by 住民票コード, now or as of a date.
#[utoipa::path(get, path = "/api/v1/residents/{resident_code}", tag = "resident",
    params(("resident_code" = String, Path, description = "住民票コード (11 digits)"), AsOfQuery),
    responses((status = 200, body = ResidentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_resident(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<AsOfQuery>,
) -> ApiResult<Json<ResidentView>> {
    let code = parse_code(&code)?;
    let r = register::read(&state.app(), &session.acting(&headers), &code, q.as_of).await?;
    Ok(Json(view(&r)))
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    pub seq: u64,
    /// 異動日
    pub effective_date: NaiveDate,
    /// 異動事由 (転入, 転居, …)
    pub label: String,
    /// What was recorded: the new address, name, 続柄, 旧氏 or 通称 with its フリガナ, the
    /// corrected item and value, the reason (empty where the 異動事由 says it all).
    pub detail: String,
    /// 記録日時, Japan time (`2026-11-24 08:30:00`).
    pub recorded_at: String,
    pub actor: String,
}

/// 異動履歴: every change of one resident, oldest first.
#[utoipa::path(get, path = "/api/v1/residents/{resident_code}/history", tag = "resident",
    params(("resident_code" = String, Path)),
    responses((status = 200, body = [HistoryView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resident_history(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<HistoryView>>> {
    let code = parse_code(&code)?;
    let events = register::history(&state.app(), &session.acting(&headers), &code).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|(e, ev)| HistoryView {
                seq: e.seq,
                effective_date: e.effective_date,
                label: ev.label_ja(),
                detail: ev.detail_ja(),
                recorded_at: format_japan_time(e.recorded_at.to_datetime()),
                actor: e.actor,
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct HouseholdQuery {
    /// Also the members removed from the register while in this household (転出, 死亡 …:
    /// their 除票, `status` `removed`), after the current ones (標準仕様書 §3.3).
    #[serde(default)]
    pub include_removed: bool,
}

/// The current members of a household (世帯), head first; with `include_removed`, then the
/// members removed from it.
#[utoipa::path(get, path = "/api/v1/households/{household_id}", tag = "resident",
    params(("household_id" = String, Path), HouseholdQuery),
    responses((status = 200, body = [ResidentView]), (status = 404, body = ErrorBody)))]
pub async fn get_household(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(household_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<HouseholdQuery>,
) -> ApiResult<Json<Vec<ResidentView>>> {
    let members = register::household(
        &state.app(),
        &session.acting(&headers),
        &household_id,
        q.include_removed,
    )
    .await?;
    let views: Vec<ResidentView> = members.iter().map(view).collect();
    Ok(Json(views))
}

pub use residents::EntryRequest;

#[derive(Serialize, ToSchema)]
pub struct ChangeResult {
    pub resident: ResidentView,
    /// Things the clerk should know (e.g. 届出期間経過); the change was recorded.
    pub warnings: Vec<WarningView>,
}

#[derive(Serialize, ToSchema)]
pub struct WarningView {
    pub field: String,
    pub message: String,
}

fn warnings(w: Vec<Warning>) -> Vec<WarningView> {
    w.into_iter()
        .map(|w| WarningView {
            field: w.field.to_string(),
            message: w.message,
        })
        .collect()
}

/// The answer to a recorded 異動: the person as now recorded, and the warnings.
async fn changed(
    state: &AppState,
    session: &StaffSession,
    code: &str,
    warned: Vec<Warning>,
) -> ApiResult<Json<ChangeResult>> {
    let r = state
        .store
        .tenant(&session.tenant)
        .resident(code)
        .await?
        .ok_or_else(|| ApiError::internal("記録した住民の記録を読み込めませんでした"))?;
    Ok(Json(ChangeResult {
        resident: view(&r),
        warnings: warnings(warned),
    }))
}

/// Records a 転入, 出生 or 職権記載.
#[utoipa::path(post, path = "/api/v1/residents", tag = "resident", request_body = EntryRequest,
    responses((status = 200, body = ChangeResult), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn enter_resident(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EntryRequest>,
) -> ApiResult<Json<ChangeResult>> {
    session.require(Permission::ResidentChange)?;
    let (code, warned) = residents::enter(&state.app(), &session.acting(&headers), req).await?;
    changed(&state, &session, &code, warned).await
}

#[derive(Deserialize, ToSchema)]
pub struct HouseholdEntryRequest {
    /// Everyone of the household, 世帯主 first, each as for `POST /api/v1/residents` with
    /// `reason` `move_in`, the same address, 方書 and 異動日, and no `household_id`: they form
    /// a new 世帯, whose number the system assigns.
    pub members: Vec<EntryRequest>,
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdEntryResult {
    /// 世帯番号 assigned to the new household.
    pub household_id: String,
    /// The members as now recorded, in the order given.
    pub members: Vec<ResidentView>,
    /// Things the clerk should know (e.g. 届出期間経過); the 転入 was recorded.
    pub warnings: Vec<WarningView>,
}

/// Records the 転入 of a whole household at once (世帯での転入): all of them or none.
#[utoipa::path(post, path = "/api/v1/residents/household", tag = "resident",
    request_body = HouseholdEntryRequest,
    responses((status = 200, body = HouseholdEntryResult), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn enter_household(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiJson(req): ApiJson<HouseholdEntryRequest>,
) -> ApiResult<Json<HouseholdEntryResult>> {
    session.require(Permission::ResidentChange)?;
    let residents::HouseholdEntered {
        household_id,
        resident_codes: codes,
        warnings: warned,
    } = residents::enter_household(&state.app(), &session.acting(&headers), req.members).await?;
    let ts = state.store.tenant(&session.tenant);
    let mut members = Vec::new();
    for code in &codes {
        let r = ts
            .resident(code)
            .await?
            .ok_or_else(|| ApiError::internal("記録した住民の記録を読み込めませんでした"))?;
        members.push(view(&r));
    }
    Ok(Json(HouseholdEntryResult {
        household_id,
        members,
        warnings: warnings(warned),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeRequest {
    #[serde(flatten)]
    pub change: residents::Change,
    /// 異動日
    pub effective_date: NaiveDate,
    /// 届出日; today (in Japan) if omitted.
    pub notified_date: Option<NaiveDate>,
}

/// Records a 異動 of a registered resident (転居, 転出, 死亡, 世帯変更,
/// 氏名変更, 職権修正, 支援措置 …), with the household's follow-up 異動
/// (the new 世帯主, the rest of the household) in the same append.
#[utoipa::path(post, path = "/api/v1/residents/{resident_code}/changes", tag = "resident", request_body = ChangeRequest,
    params(("resident_code" = String, Path)),
    responses((status = 200, body = ChangeResult), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn change_resident(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> ApiResult<Json<ChangeResult>> {
    session.require(Permission::ResidentChange)?;
    let code = parse_code(&code)?;
    let notified = req.notified_date.unwrap_or_else(today_in_japan);
    let warned = residents::change(
        &state.app(),
        &session.acting(&headers),
        &code,
        req.change,
        req.effective_date,
        notified,
    )
    .await?;
    changed(&state, &session, &code, warned).await
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
