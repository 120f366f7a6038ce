//! 証明書: issuing 住民票の写し, 記載事項証明書 and 除票の写し as signed
//! PDFs, publishing each tenant's public keys, and verifying a PDF without
//! disclosing anything in it.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use murakumo_core::TenantCode;
use murakumo_documents::{
    CertificatePdf, Limits, SealPayload, VerifiedCertificate, VerifyReport, VerifyingKey,
};
use murakumo_tenancy::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

pub(crate) use murakumo_app::certificates::{IssueSlot, hex_digest, kind_title, renderer};

/// Decides where issuances go now; refuses on a node that may not issue.
pub(crate) async fn issue_slot(state: &AppState) -> ApiResult<IssueSlot> {
    use murakumo_store::NodeRole;
    let node = state.store.node_state().await?;
    let follow = state.replication.follow.as_ref();
    let unavailable = |message: String| ApiError {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        code: "use_primary",
        message,
        field: None,
        retry_after_secs: None,
    };
    match (node.role, follow) {
        (NodeRole::Primary, _) => Ok(IssueSlot::Ledger),
        (NodeRole::Fallback, Some(f)) if !f.online() => Ok(IssueSlot::Outbox {
            series_suffix: f.series_suffix.clone(),
        }),
        (NodeRole::Fallback, Some(f)) => Err(unavailable(format!(
            "データセンターに接続できているため、証明書はデータセンター（{}）で交付してください。この拠点端末での交付は回線断のときだけです",
            f.primary_url()
        ))),
        (role, _) => Err(unavailable(format!(
            "このサーバー（{}）では証明書を交付できません。プライマリのデータセンターで交付してください",
            role.name()
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CertificateRequest {
    /// `resident_copy` (住民票の写し), `record_statement` (住民票記載事項証明書),
    /// `removed_copy` (除票の写し) or `seal` (印鑑登録証明書: give `card_number`).
    pub kind: String,
    /// 印鑑登録証番号 of the card presented (`seal` only: the card is what
    /// entitles the bearer to the certificate).
    pub card_number: Option<String>,
    /// `seal` only: the 印鑑登録番号 the clerk has on screen; the card must belong to it.
    #[serde(default)]
    pub registration_number: Option<String>,
    /// `seal` only (required): the registrant's 氏名 as written on the 申請書 (氏名, 通称 or
    /// フリガナ); it must match the register.
    #[serde(default)]
    pub applicant_name: Option<String>,
    /// `seal` only (required): the registrant's 生年月日 as written on the 申請書.
    #[serde(default)]
    pub applicant_birth_date: Option<NaiveDate>,
    /// The people to certify (住民票コード). Omit and give `household_id` for
    /// the whole household.
    pub resident_codes: Option<Vec<String>>,
    /// The whole household (世帯全員).
    pub household_id: Option<String>,
    /// Certify the record as it stood on this date; today if omitted.
    pub as_of: Option<NaiveDate>,
    #[serde(default)]
    pub include_honseki: bool,
    #[serde(default = "yes")]
    pub include_relationship: bool,
    #[serde(default)]
    pub include_resident_code: bool,
    /// 請求者: `本人`, `同一世帯`, `代理人`, `第三者` or `公用`.
    pub requester: String,
    /// 利用目的
    pub purpose: String,
}

fn yes() -> bool {
    true
}

/// Issues a certificate as a signed PDF (`application/pdf`). The issuance is
/// recorded in the ledger (who, for whom, why, digest) and the access log.
/// Certificates of residents under 支援措置 are refused to third parties.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "resident", request_body = CertificateRequest,
    responses(
        (status = 200, description = "the PDF; headers x-issue-number and x-certified-digest", content_type = "application/pdf"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn issue_certificate(
    State(state): State<AppState>,
    session: StaffSession,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CertificateRequest>,
) -> ApiResult<Response> {
    session.require(Permission::CertificateIssue)?;
    let node = murakumo_app::certificates::Node {
        slot: issue_slot(&state).await?,
        // A follower signs only with a key it holds: a municipal site with its own, made
        // and registered when it first reaches the primary.
        site_keys_only: state
            .replication
            .follow
            .as_ref()
            .is_some_and(|f| f.fallback),
    };
    let req = murakumo_app::certificates::Request {
        kind: req.kind,
        card_number: req.card_number,
        registration_number: req.registration_number,
        applicant_name: req.applicant_name,
        applicant_birth_date: req.applicant_birth_date,
        resident_codes: req.resident_codes,
        household_id: req.household_id,
        as_of: req.as_of,
        include_honseki: req.include_honseki,
        include_relationship: req.include_relationship,
        include_resident_code: req.include_resident_code,
        requester: req.requester,
        purpose: req.purpose,
    };
    let issued =
        murakumo_app::certificates::issue(&state.app(), &session.acting(&headers), &node, req)
            .await?;
    let mut resp = ([(header::CONTENT_TYPE, "application/pdf")], issued.pdf).into_response();
    if let Ok(v) = HeaderValue::from_str(&issued.issue_number) {
        resp.headers_mut().insert("x-issue-number", v);
    }
    if let Ok(v) = HeaderValue::from_str(&issued.digest) {
        resp.headers_mut().insert("x-certified-digest", v);
    }
    Ok(resp)
}

#[derive(Serialize, ToSchema)]
pub struct PublicKeyView {
    pub key_id: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    pub created_at: String,
    /// Retired keys still verify what they signed.
    pub retired_at: Option<String>,
    /// The municipal site (拠点) that signs with this key while the centre
    /// is unreachable; absent for the municipality's own key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Starts signing with a new key (団体管理者). Certificates signed with the
/// old one keep verifying.
#[utoipa::path(post, path = "/api/v1/signing-keys/rotate", tag = "tenant",
    responses((status = 200, body = PublicKeyView), (status = 403, body = ErrorBody)))]
pub async fn rotate_signing_key(
    State(state): State<AppState>,
    session: StaffSession,
) -> ApiResult<Json<PublicKeyView>> {
    session.require(Permission::SettingsManage)?;
    let key =
        murakumo_app::certificates::rotate_key(&state.app(), &session.tenant, &session.actor())
            .await?;
    Ok(Json(PublicKeyView {
        key_id: key.key_id().to_string(),
        public_key: hex_digest(key.verifying_key().as_bytes()),
        created_at: Utc::now().to_rfc3339(),
        retired_at: None,
        site: None,
    }))
}

/// A municipality's public certificate keys (no login needed): banks and
/// other offices use them to check certificates offline.
#[utoipa::path(get, path = "/api/v1/public/tenants/{code}/signing-keys", tag = "public",
    params(("code" = String, Path, description = "全国地方公共団体コード")),
    responses((status = 200, body = [PublicKeyView]), (status = 404, body = ErrorBody)))]
pub async fn public_keys(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Vec<PublicKeyView>>> {
    let code = TenantCode::parse(&code).map_err(|e| ApiError::invalid("code", e.message_ja()))?;
    state.store.tenant_info(&code).await?;
    let keys = state.store.tenant(&code).public_keys().await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| PublicKeyView {
                key_id: k.key_id,
                public_key: k.public_key.iter().map(|b| format!("{b:02x}")).collect(),
                created_at: k.created_at.to_rfc3339(),
                retired_at: k.retired_at.map(|t| t.to_rfc3339()),
                site: k.site,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct VerificationView {
    /// Signed by the municipality and unaltered (for a QR code: signed and recorded as issued;
    /// the paper itself is checked only with the PDF).
    pub genuine: bool,
    /// What was checked, or why it failed, in plain Japanese. Never personal data.
    pub message: String,
    /// 全国地方公共団体コード of the issuer.
    pub tenant: Option<String>,
    /// The issuer's name, e.g. 北海道深川市.
    pub tenant_name: Option<String>,
    /// The certificate's title, e.g. 住民票の写し.
    pub title: Option<String>,
    pub issue_number: Option<String>,
    pub issue_date: Option<NaiveDate>,
    /// 発行日 in 和暦, e.g. 令和8年12月4日.
    pub issue_date_wareki: Option<String>,
    pub key_id: Option<String>,
}

impl VerificationView {
    /// Nothing confirmed: only the message.
    pub(crate) fn refused(message: String) -> VerificationView {
        VerificationView {
            genuine: false,
            message,
            tenant: None,
            tenant_name: None,
            title: None,
            issue_number: None,
            issue_date: None,
            issue_date_wareki: None,
            key_id: None,
        }
    }

    /// What the signed data says of a certificate (no personal data), with `genuine` and the
    /// message still to decide.
    pub(crate) fn of(v: &VerifiedCertificate, genuine: bool, message: String) -> VerificationView {
        VerificationView {
            genuine,
            message,
            tenant: Some(v.tenant_code.clone()),
            tenant_name: Some(v.tenant_name.clone()),
            title: Some(v.kind.title().to_string()),
            issue_number: Some(v.issue_number.clone()),
            issue_date: Some(v.issue_date),
            issue_date_wareki: Some(murakumo_documents::wareki(v.issue_date)),
            key_id: Some(v.key_id.clone()),
        }
    }
}

/// Checks whether a certificate PDF (request body, `application/pdf`) is
/// genuine and unaltered. Answers only that — never the personal data in it.
#[utoipa::path(post, path = "/api/v1/public/verify-certificate", tag = "public",
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, body = VerificationView), (status = 429, body = ErrorBody)))]
pub async fn verify_certificate(
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<VerificationView>> {
    Ok(Json(verify_pdf(&state, body.to_vec()).await?))
}

/// Public verifications at once: one per core, with a short queue; beyond
/// it the caller is asked to come back (each one may inflate up to
/// `Limits::DEFAULT.max_inflated_bytes`, twice, so memory stays bounded).
fn verify_turns() -> &'static (tokio::sync::Semaphore, tokio::sync::Semaphore) {
    static TURNS: OnceLock<(tokio::sync::Semaphore, tokio::sync::Semaphore)> = OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        (
            tokio::sync::Semaphore::new(cores),
            tokio::sync::Semaphore::new(cores * 4),
        )
    })
}

/// Runs `f` on the blocking pool (CPU-bound work such as PDF parsing).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Verifies with the keys in this platform's database, off the async
/// workers and within `Limits::DEFAULT`.
pub(crate) async fn verify_pdf(state: &AppState, pdf: Vec<u8>) -> ApiResult<VerificationView> {
    let (turns, queue) = verify_turns();
    let _queued = queue.try_acquire().map_err(|_| {
        ApiError::too_many(
            "証明書の検証が混み合っています。少し待ってからもう一度お試しください",
            2,
        )
    })?;
    let _turn = turns
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let report = match blocking(move || CertificatePdf::read(&pdf, Limits::DEFAULT)).await? {
        Err(e) => VerifyReport(Err(e)),
        Ok(read) => {
            // Which tenant and key the PDF names: load that tenant's keys.
            let tenant = read.tenant_code().to_string();
            let keys = published_keys(state, &tenant).await?.1;
            let renderer = renderer().ok();
            VerifyReport(
                blocking(move || {
                    read.verify(
                        &|t, key_id| {
                            if t == tenant {
                                keys.get(key_id).copied()
                            } else {
                                None
                            }
                        },
                        renderer.as_deref(),
                    )
                })
                .await?,
            )
        }
    };
    if let Ok(v) = &report.0
        && let Some(unreconciled) = super::replication::unreconciled_site_issuance(state, v).await?
    {
        return Ok(unreconciled);
    }
    Ok(match &report.0 {
        Ok(v) if report.is_genuine() => VerificationView::of(v, true, report.message_ja()),
        _ => VerificationView::refused(report.message_ja()),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyCodeRequest {
    /// What the certificate's QR code holds, as scanned or typed: the verification link
    /// (`https://…/verify#MKC2|…`) or the code alone (`MKC2|…`).
    pub code: String,
}

/// Checks a certificate's QR code: that the issuing municipality signed it and that its ledger
/// records this issuance (same 発行番号, key and certified content). The paper's printed
/// content is not in the code: the answer says so, and the PDF check compares that too.
#[utoipa::path(post, path = "/api/v1/public/verify-code", tag = "public",
    request_body = VerifyCodeRequest,
    responses((status = 200, body = VerificationView), (status = 400, body = ErrorBody)))]
pub async fn verify_code(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyCodeRequest>,
) -> ApiResult<Json<VerificationView>> {
    if req.code.len() > 2_000 {
        return Err(ApiError::invalid(
            "code",
            "QRコードの内容としては長すぎます。QRコードを読み直してください",
        ));
    }
    let payload = match SealPayload::from_qr(&req.code) {
        Ok(p) => p,
        Err(e) => return Ok(Json(VerificationView::refused(e.message_ja()))),
    };
    let (info, keys) = published_keys(&state, &payload.tenant_code).await?;
    let (Some((tenant, info)), Some(key)) = (info, keys.get(&payload.key_id)) else {
        let unknown = murakumo_documents::DocumentError::UnknownKey {
            tenant_code: payload.tenant_code.clone(),
            key_id: payload.key_id.clone(),
        };
        return Ok(Json(VerificationView::refused(unknown.message_ja())));
    };
    let ts = state.store.tenant(&tenant);
    if let Err(e) = payload.verify_signature(key) {
        return Ok(Json(VerificationView::refused(e.message_ja())));
    }
    // The record of issuances is being rebuilt: "not issued" would be a false answer.
    if state
        .store
        .rebuilding(&tenant, murakumo_store::System::CERTIFICATE)
    {
        return Err(crate::session::rebuilding(
            murakumo_store::System::CERTIFICATE,
        ));
    }
    let digest = hex_digest(&payload.digest);
    let issued = ts
        .issued_certificate(&payload.issue_number)
        .await?
        .filter(|i| i.key_id == payload.key_id && i.digest == digest);
    let date = murakumo_documents::wareki(payload.issue_date);
    let mut view = VerificationView {
        genuine: false,
        message: String::new(),
        tenant: Some(payload.tenant_code.clone()),
        tenant_name: Some(info.name.clone()),
        title: None,
        issue_number: Some(payload.issue_number.clone()),
        issue_date: Some(payload.issue_date),
        issue_date_wareki: Some(date.clone()),
        key_id: Some(payload.key_id.clone()),
    };
    match issued {
        Some(i) => {
            let title = kind_title(&i.kind);
            view.genuine = true;
            view.message = format!(
                "{name}が{date}に交付した{title}(発行番号 {number})のQRコードです。\
                 {name}の署名が一致し、{name}の台帳にこの交付が同じ内容で記録されています。\
                 QRコードには紙面の記載事項は含まれないため、紙面が書き換えられていないかは、\
                 証明書のPDFをこのページで確認するか、紙面を{name}にお問い合わせください。",
                name = info.name,
                number = payload.issue_number,
            );
            view.title = Some(title.to_string());
        }
        None => {
            view.message = format!(
                "署名は{name}の鍵のものですが、{name}の台帳にこの交付(発行番号 {number})の記録が見つかりません。\
                 市区町村の拠点で回線の停止中に交付され、まだ照合されていない可能性があります。\
                 真正とは確認できないため、{name}にお問い合わせください。",
                name = info.name,
                number = payload.issue_number,
            );
        }
    }
    Ok(Json(view))
}

/// The municipality a certificate names (when it is on this platform) and its published keys
/// by key id; nothing for a code that is not a municipality here.
async fn published_keys(
    state: &AppState,
    tenant_code: &str,
) -> ApiResult<(
    Option<(TenantCode, murakumo_store::TenantInfo)>,
    HashMap<String, VerifyingKey>,
)> {
    let Ok(tenant) = TenantCode::parse(tenant_code) else {
        return Ok((None, HashMap::new()));
    };
    let Ok(info) = state.store.tenant_info(&tenant).await else {
        return Ok((None, HashMap::new()));
    };
    let keys = state
        .store
        .tenant(&tenant)
        .public_keys()
        .await?
        .into_iter()
        .filter_map(|k| {
            let bytes = <[u8; 32]>::try_from(k.public_key.as_slice()).ok()?;
            Some((k.key_id, VerifyingKey::from_bytes(&bytes).ok()?))
        })
        .collect();
    Ok((Some((tenant, info)), keys))
}
