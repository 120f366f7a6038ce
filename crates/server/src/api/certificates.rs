//! 証明書: issuing 住民票の写し, 記載事項証明書 and 除票の写し as signed
//! PDFs, publishing each tenant's public keys, and verifying a PDF without
//! disclosing anything in it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use murakumo_core::in_japan;
use murakumo_core::{TenantCode, WarekiDate};
use murakumo_documents::{
    Address, Certificate, CertificateKind, CertificateOptions, CertificatePdf, Limits, Member,
    Renderer, SealPayload, Sex as DocSex, SigningKeyPair, VerifiedCertificate, VerifyReport,
    VerifyingKey,
};
use murakumo_resident::{
    CertificateIssued, Citizenship, EntryReason, Record, RemovalReason, ResidentEvent, Sex, Status,
};
use murakumo_tenancy::{AccessAction, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::residents::{access_records, log};
use super::settings::entry;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, ErrorBody};
use crate::session::StaffSession;
use crate::state::AppState;

/// Where an issuance goes: the tenant ledger on the primary, or — on a
/// municipal-site fallback node (利用拠点バックアップ) while the centre is
/// unreachable — the node-local outbox, with a 発行番号 from the site's own
/// series (`R8B1-0000001`), replayed to the centre by 発行番号 when the
/// link returns. Every certificate kind goes through this (住民票の写し now,
/// 印鑑登録証明書 the same way).
#[derive(Clone, Debug)]
pub(crate) enum IssueSlot {
    Ledger,
    Outbox { series_suffix: String },
}

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

impl IssueSlot {
    /// The next 発行番号: the centre's series, or this site's own.
    pub(crate) async fn take_number(
        &self,
        ts: &murakumo_store::TenantStore<'_>,
        series: &str,
    ) -> ApiResult<String> {
        Ok(match self {
            IssueSlot::Ledger => ts.next_issue_number(series).await?,
            IssueSlot::Outbox { series_suffix } => {
                ts.next_issue_number(&format!("{series}{series_suffix}"))
                    .await?
            }
        })
    }

    /// Records the issuance with its access-log records: appended to the
    /// ledger and the access log in one transaction, or kept in the outbox
    /// under `certificate:<発行番号>`.
    pub(crate) async fn record(
        &self,
        ts: &murakumo_store::TenantStore<'_>,
        issue_number: &str,
        entry: murakumo_ledger::NewEntry,
        actor: &str,
        access: &[murakumo_tenancy::AccessRecord],
    ) -> ApiResult<()> {
        match self {
            IssueSlot::Ledger => {
                ts.record_issuance(vec![entry], actor, access).await?;
            }
            IssueSlot::Outbox { .. } => {
                ts.outbox_push(
                    murakumo_store::Chain::Ledger,
                    &format!("certificate:{issue_number}"),
                    &entry,
                )
                .await?;
                metrics::counter!("murakumo_fallback_certificates_issued_total").increment(1);
                ts.log_access(actor, access).await?;
            }
        }
        Ok(())
    }
}

/// The renderer holds the parsed IPAmj明朝 font: loaded once per process.
pub(crate) fn renderer() -> ApiResult<Arc<Renderer>> {
    static RENDERER: OnceLock<Result<Arc<Renderer>, String>> = OnceLock::new();
    RENDERER
        .get_or_init(|| Renderer::system().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| ApiError::internal(format!("certificates cannot be printed: {e}")))
}

/// Renders running at once: one per core (a fair semaphore, so requests
/// are rendered in the order they got here).
fn render_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    TURNS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
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

const REQUESTERS: [&str; 5] = ["本人", "同一世帯", "代理人", "第三者", "公用"];

/// A date as the 備考 words a 届出日: 「11月25日届出」 in the year of the
/// 異動, the full 和暦 date otherwise.
fn notified_ja(effective: NaiveDate, notified: NaiveDate) -> String {
    use chrono::Datelike;
    if notified.year() == effective.year() {
        format!("{}月{}日届出", notified.month(), notified.day())
    } else {
        format!("{}届出", murakumo_documents::wareki(notified))
    }
}

/// The 備考 of a person's 異動 as the standard words them, from the events up
/// to the certificate's date: how and when they came (「令和8年11月20日
/// 東京都新宿区から転入 11月25日届出」), each 転居 (「令和8年12月1日 転居 12月3日届出」), a
/// 転出予定, and why and when the record became a 除票.
fn history_notes(events: &[(ResidentEvent, NaiveDate)]) -> Vec<String> {
    use murakumo_documents::wareki;
    let last = |pick: fn(&ResidentEvent) -> bool| events.iter().rev().find(|(e, _)| pick(e));
    let mut notes = Vec::new();
    // Only the latest stay counts: a person may have left and come back.
    let entry = last(|e| matches!(e, ResidentEvent::Entered { .. }));
    let since_entry: Vec<&(ResidentEvent, NaiveDate)> = match entry {
        Some(en) => events
            .iter()
            .skip_while(|x| !std::ptr::eq(*x, en))
            .collect(),
        None => Vec::new(),
    };
    if let Some((
        ResidentEvent::Entered {
            reason,
            notified_date,
            ..
        },
        d,
    )) = entry
    {
        let what = match reason {
            EntryReason::MoveIn { previous_address }
            | EntryReason::MoveInNotice {
                previous_address, ..
            } => format!("{previous_address}から転入"),
            EntryReason::Birth => "出生".to_string(),
            EntryReason::ExOfficio { .. } => "職権記載".to_string(),
        };
        notes.push(format!(
            "{} {what} {}",
            wareki(*d),
            notified_ja(*d, *notified_date)
        ));
    }
    for (i, (e, d)) in since_entry.iter().map(|x| (&x.0, x.1)).enumerate() {
        // A 転出予定 withdrawn (転出取消) is no longer on the record.
        let withdrawn = || {
            since_entry[i + 1..]
                .iter()
                .any(|x| matches!(x.0, ResidentEvent::MoveOutCancelled { .. }))
        };
        match e {
            ResidentEvent::Relocated { notified_date, .. } => notes.push(format!(
                "{} 転居 {}",
                wareki(d),
                notified_ja(d, *notified_date)
            )),
            ResidentEvent::MoveOutPlanned {
                planned_date,
                destination,
                notified_date,
                ..
            } if !withdrawn()
                && !since_entry
                    .iter()
                    .any(|x| matches!(x.0, ResidentEvent::Removed { .. })) =>
            {
                notes.push(format!(
                    "{} {destination}へ転出予定 {}",
                    wareki(*planned_date),
                    notified_ja(d, *notified_date)
                ))
            }
            ResidentEvent::Removed {
                reason,
                notified_date,
                ..
            } => notes.push(match reason {
                RemovalReason::MovedOut { destination } => format!(
                    "{} {destination}へ転出 {}",
                    wareki(d),
                    notified_ja(d, *notified_date)
                ),
                RemovalReason::Died => {
                    format!("{} 死亡 {}", wareki(d), notified_ja(d, *notified_date))
                }
                RemovalReason::ExOfficio { .. } => format!("{} 職権消除", wareki(d)),
            }),
            _ => {}
        }
    }
    notes
}

fn member(r: &Record, include_honseki: bool, history: Vec<String>) -> Member {
    let (honseki, head) = match &r.person.citizenship {
        Citizenship::Japanese { honseki, hittosha } if include_honseki => {
            (Some(honseki.clone()), Some(hittosha.clone()))
        }
        _ => (None, None),
    };
    let previous = match &r.entry_reason {
        EntryReason::MoveIn { previous_address }
        | EntryReason::MoveInNotice {
            previous_address, ..
        } => Some(previous_address.clone()),
        _ => None,
    };
    let mut notes = history;
    if let Citizenship::Foreign {
        nationality,
        residence_status,
        period_until,
    } = &r.person.citizenship
    {
        notes.push(format!(
            "国籍・地域 {nationality}　在留資格 {residence_status}"
        ));
        if let Some(until) = period_until {
            notes.push(format!(
                "在留期間の満了日 {}",
                murakumo_documents::wareki(*until)
            ));
        }
    }
    Member {
        name: r.full_name(),
        kana: r.full_kana(),
        birth_date: r.person.birth_date,
        sex: match r.person.sex {
            Sex::Male => DocSex::Male,
            Sex::Female => DocSex::Female,
            Sex::Other => DocSex::Unstated,
        },
        relationship: r.relationship.clone(),
        resident_code: Some(r.resident_code.clone()),
        individual_number: None,
        honseki,
        honseki_head: head,
        became_resident_date: Some(r.became_resident),
        address_since: Some(r.address_since),
        previous_address: previous,
        notes,
    }
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
    let slot = issue_slot(&state).await?;
    let kind = match req.kind.as_str() {
        "resident_copy" => CertificateKind::ResidentCopy,
        "record_statement" => CertificateKind::ResidentRecordStatement,
        "removed_copy" => CertificateKind::RemovedRecordCopy,
        "seal" => CertificateKind::SealCertificate,
        _ => {
            return Err(ApiError::invalid(
                "kind",
                "証明書の種類は resident_copy(住民票の写し)、record_statement(記載事項証明書)、removed_copy(除票の写し)、seal(印鑑登録証明書)のいずれかを指定してください",
            ));
        }
    };
    if !REQUESTERS.contains(&req.requester.as_str()) {
        return Err(ApiError::invalid(
            "requester",
            format!(
                "請求者の区分は {} のいずれかを指定してください",
                REQUESTERS.join("・")
            ),
        ));
    }
    if req.purpose.trim().is_empty() {
        return Err(ApiError::invalid(
            "purpose",
            "利用目的を入力してください(例: 年金の手続き)",
        ));
    }
    if req.requester == "第三者" && (req.include_honseki || req.include_resident_code) {
        return Err(ApiError::invalid(
            if req.include_honseki {
                "include_honseki"
            } else {
                "include_resident_code"
            },
            "第三者からの請求では、本籍・筆頭者と住民票コードは記載できません(住民基本台帳法第12条の3)。この項目の指定を外してください",
        ));
    }
    let now = in_japan(Utc::now());
    let today = now.date_naive();
    let as_of = req.as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::invalid(
            "as_of",
            "基準日に未来の日付は指定できません。今日以前の日付を入力してください",
        ));
    }
    let ts = state.store.tenant(&session.tenant);
    let seal = match kind {
        CertificateKind::SealCertificate => Some(seal_for_card(&ts, &req, as_of, today).await?),
        _ => None,
    };
    // The current records (the household's come with it), for the 支援措置
    // check; the certified records are replayed as of `as_of` below.
    let (currents, whole_household) = match (&req.resident_codes, &req.household_id) {
        _ if let Some(s) = &seal => (
            current_records(&ts, std::slice::from_ref(&s.resident_code)).await?,
            false,
        ),
        (Some(codes), None) if !codes.is_empty() => (current_records(&ts, codes).await?, false),
        // 世帯全員: the household as it was on `as_of` (who has left since is printed,
        // who joined since is not).
        (None, Some(h)) if as_of < today => {
            let then: Vec<String> = super::residents::household_as_of(&ts, h, as_of, today)
                .await?
                .into_iter()
                .map(|r| r.resident_code)
                .collect();
            (current_records(&ts, &then).await?, true)
        }
        (None, Some(h)) => (ts.household(h).await?, true),
        _ => {
            return Err(ApiError::invalid(
                "resident_codes",
                "住民票コード(resident_codes)か世帯番号(household_id)のどちらか一方を指定してください",
            ));
        }
    };
    if currents.is_empty() {
        return Err(ApiError::not_found(
            "この世帯番号の世帯は、この団体の現在の住民記録にありません。世帯番号を確認してください",
        ));
    }
    let codes: Vec<String> = currents.iter().map(|r| r.resident_code.clone()).collect();
    let mut records = Vec::new();
    let mut histories: HashMap<String, Vec<String>> = HashMap::new();
    for current in &currents {
        let code = &current.resident_code;
        // 支援措置: never to a third party; otherwise through the one gate.
        let third_party = !matches!(req.requester.as_str(), "本人" | "公用");
        if current.protected_on(super::protection::today()) && third_party {
            log(
                &state,
                &session,
                &headers,
                AccessAction::Issue,
                [format!("resident:{code}")],
                super::protection::REFUSED,
            )
            .await?;
            return Err(ApiError::forbidden(
                "支援措置の対象者の証明書は、本人以外からの請求には交付できません",
            ));
        }
        super::protection::admit(&state, &session, &headers, current, AccessAction::Issue).await?;
        let events: Vec<(ResidentEvent, NaiveDate)> = ts
            .resident_events(code)
            .await?
            .into_iter()
            .map(|(e, ev)| (ev, e.effective_date))
            .filter(|(_, d)| *d <= as_of)
            .collect();
        let record = murakumo_resident::replay(events.iter().map(|(e, d)| (e, *d)), as_of)
            .map_err(|e| ApiError::conflict(e.to_string()))?
            .ok_or_else(|| {
                ApiError::not_found(format!("住民票コード {code} の方は {} 時点で住民記録にありません。基準日を確認してください", murakumo_documents::wareki(as_of)))
            })?;
        histories.insert(code.clone(), history_notes(&events));
        match (kind, record.is_removed()) {
            (CertificateKind::RemovedRecordCopy, false) => {
                return Err(ApiError::invalid(
                    "kind",
                    format!(
                        "住民票コード {code} の方は {} 時点で除票になっていません。除票の写しではなく住民票の写しを請求してください",
                        murakumo_documents::wareki(as_of)
                    ),
                ));
            }
            (
                CertificateKind::ResidentCopy
                | CertificateKind::ResidentRecordStatement
                | CertificateKind::SealCertificate,
                true,
            ) => {
                return Err(ApiError::invalid(
                    "kind",
                    format!(
                        "住民票コード {code} の方は {} 時点で除票です。除票の写し(removed_copy)を請求してください",
                        murakumo_documents::wareki(as_of)
                    ),
                ));
            }
            _ => {}
        }
        records.push(record);
    }
    records.sort_by_key(|r| (r.relationship != "世帯主", r.person.birth_date));

    let settings = state.settings(&session.tenant).await?;
    let setting =
        |key: &str| {
            settings.iter().find(|s| s.key == key).and_then(|s| s.value.clone()).ok_or_else(|| {
            ApiError::conflict(format!(
                "設定 {key} がこの団体にまだありません。団体管理者が「設定」で登録してください"
            ))
        })
        };
    let (issuer_title, issuer_name) = (
        setting("certificate.issuer_title")?,
        setting("certificate.issuer_name")?,
    );
    let key = signing_key(&state, &session.tenant).await?;
    let series = WarekiDate::from_gregorian(today).map_or(today.format("%Y").to_string(), |w| {
        format!("{}{}", w.era().letter(), w.year())
    });
    let info = state.tenant_info(&session.tenant).await?;
    let head_name = household_head(&ts, &records, as_of).await?;
    let first = &records[0];
    let mut cert = Certificate {
        kind,
        tenant_code: session.tenant.to_string(),
        tenant_name: info.name,
        issuer_title,
        issuer_name,
        // Numbered below, once nothing can refuse it any more.
        issue_number: String::new(),
        issue_date: today,
        issue_time: Some(now.time()),
        as_of,
        household_head: head_name,
        address: Address {
            text: first.address.text.clone(),
            katagaki: Some(first.address.katagaki.clone()).filter(|k| !k.is_empty()),
        },
        members: records
            .iter()
            .map(|r| {
                let notes = histories.remove(&r.resident_code).unwrap_or_default();
                member(r, req.include_honseki, notes)
            })
            .collect(),
        options: CertificateOptions {
            whole_household,
            honseki: req.include_honseki,
            relationship: req.include_relationship,
            resident_code: req.include_resident_code,
            individual_number: false,
        },
        seal_registration_number: seal.as_ref().map(|s| s.registration_number.clone()),
        seal_image: match &seal {
            Some(s) => ts.seal_impression(&s.registration_number).await?,
            None => None,
        },
        official_seal_image: state
            .official_seal(&session.tenant)
            .await?
            .map(|png| png.to_vec()),
        // The QR code opens the municipality's verification page: its setting, so that the
        // centre and a fallback site print the same link (and certify the same content).
        verify_url: settings
            .iter()
            .find(|s| s.key == "certificate.verify_url")
            .and_then(|s| s.value.clone()),
    };
    let renderer = renderer()?;
    // What the font cannot print is refused before a 発行番号 is taken: a refused issuance
    // leaves no gap in the series.
    renderer.check_certificate(&cert).map_err(|e| match e {
        murakumo_documents::DocumentError::MissingGlyph { field, codepoint } => ApiError::invalid(
            "resident_codes",
            format!(
                "証明書に印字できない文字があります(項目 {field}、文字 U+{codepoint:04X})。外字を文字情報基盤の文字に同定する職権修正をしてから交付してください。発行番号は使われていません"
            ),
        ),
        e @ murakumo_documents::DocumentError::DoesNotFit { .. } => {
            ApiError::invalid("resident_codes", e.message_ja())
        }
        other => ApiError::internal(other.to_string()),
    })?;
    let issue_number = slot.take_number(&ts, &series).await?;
    cert.issue_number = issue_number.clone();
    // At most one render per core at a time, first come first served: fifty
    // renders sharing two cores would all finish late together.
    let turn = render_turns()
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let issued = tokio::task::spawn_blocking(move || renderer.issue(&cert, &key))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::invalid("resident_codes", e.to_string()))?;
    drop(turn);
    let digest = hex_digest(&issued.payload.digest);
    let event = CertificateIssued {
        issue_number: issue_number.clone(),
        kind: req.kind.clone(),
        subjects: codes.clone(),
        as_of,
        requester: req.requester.clone(),
        purpose: req.purpose.clone(),
        digest: digest.clone(),
        key_id: issued.payload.key_id.clone(),
    };
    // The ledger entry and the access-log records commit together: an
    // acknowledged issuance is durable in both.
    // The auditor sees the 利用目的 and 請求者 of the request itself (住民基本台帳法 12条の3:
    // what the issuance was granted for), not only a screen's general purpose header.
    let access: Vec<_> = access_records(
        &headers,
        AccessAction::Issue,
        codes.iter().map(|c| format!("resident:{c}")),
        &format!("{issue_number} 請求者: {}", req.requester),
    )
    .into_iter()
    .map(|mut r| {
        r.purpose = req.purpose.clone();
        r
    })
    .collect();
    slot.record(
        &ts,
        &issue_number,
        entry(&session, &event),
        &session.actor(),
        &access,
    )
    .await?;
    metrics::counter!("murakumo_access_log_entries_total").increment(access.len() as u64);
    metrics::counter!("murakumo_certificates_issued_total").increment(1);
    let mut resp = ([(header::CONTENT_TYPE, "application/pdf")], issued.pdf).into_response();
    if let Ok(v) = HeaderValue::from_str(&issue_number) {
        resp.headers_mut().insert("x-issue-number", v);
    }
    if let Ok(v) = HeaderValue::from_str(&digest) {
        resp.headers_mut().insert("x-certified-digest", v);
    }
    Ok(resp)
}

/// The name printed as 世帯主: the head of the household of the first person
/// certified as of `as_of` — for a 除票, as of the removal, when the
/// household was last whole — whether or not the head is among
/// those printed. Blank if the register cannot tell (no head then).
async fn household_head(
    ts: &murakumo_store::TenantStore<'_>,
    records: &[Record],
    as_of: NaiveDate,
) -> ApiResult<String> {
    let Some(first) = records.first() else {
        return Ok(String::new());
    };
    if let Some(head) = records
        .iter()
        .find(|r| r.relationship == murakumo_resident::HEAD && r.household_id == first.household_id)
    {
        return Ok(head.full_name());
    }
    let date = match &first.status {
        Status::Removed { date, .. } => *date,
        _ => as_of,
    };
    Ok(super::residents::head_as_of(ts, &first.household_id, date)
        .await?
        .map(|h| h.full_name())
        .unwrap_or_default())
}

/// The current records of `codes`, in that order; an unknown code is an error.
async fn current_records(
    ts: &murakumo_store::TenantStore<'_>,
    codes: &[String],
) -> ApiResult<Vec<Record>> {
    let mut out = Vec::new();
    for code in codes {
        out.push(ts.resident(code).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no resident with 住民票コード {code} in your municipality"
            ))
        })?);
    }
    Ok(out)
}

/// The registration a presented 印鑑登録証 stands for, in force on `as_of`
/// (印鑑登録証明書 certify only what is registered now: `as_of` is today).
async fn seal_for_card(
    ts: &murakumo_store::TenantStore<'_>,
    req: &CertificateRequest,
    as_of: NaiveDate,
    today: NaiveDate,
) -> ApiResult<murakumo_seal::SealRecord> {
    if as_of != today {
        return Err(ApiError::invalid(
            "as_of",
            "印鑑登録証明書は今日現在の登録を証明します。基準日は指定しないでください",
        ));
    }
    let card = req
        .card_number
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "card_number",
                "印鑑登録証明書の交付には印鑑登録証が必要です。印鑑登録証の番号を入力してください",
            )
        })?;
    let found = ts
        .search_seals(&murakumo_store::SealQuery {
            card_number: Some(card.to_string()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    let reg = found.into_iter().next().ok_or_else(|| {
        ApiError::not_found(format!(
            "印鑑登録証 {card} は有効な印鑑登録のものではありません(廃止・亡失の登録証は使えません)。登録証を確認してください"
        ))
    })?;
    if let Some(on_screen) = req
        .registration_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        && on_screen != reg.registration_number
    {
        return Err(ApiError::invalid(
            "card_number",
            format!(
                "提示された印鑑登録証は、画面の登録({on_screen})のものではありません。登録証と申請者を確認してください"
            ),
        ));
    }
    if let Some(codes) = &req.resident_codes
        && !codes.iter().all(|c| *c == reg.resident_code)
    {
        return Err(ApiError::invalid(
            "card_number",
            "この印鑑登録証は別の方の登録のものです。登録証と申請者を確認してください",
        ));
    }
    let birth_date = req.applicant_birth_date.ok_or_else(|| {
        ApiError::invalid(
            "applicant_birth_date",
            "申請書に書かれた登録者の生年月日を入力してください",
        )
    })?;
    let registrant = ts
        .resident(&reg.resident_code)
        .await?
        .ok_or_else(|| ApiError::internal("印鑑登録の登録者の住民記録が見つかりません"))?;
    murakumo_seal::check_applicant(
        &registrant,
        req.applicant_name.as_deref().unwrap_or_default(),
        birth_date,
    )
    .map_err(super::seals::seal_error)?;
    Ok(reg)
}

pub(crate) fn hex_digest(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tenant's active signing key (cached); the first issuance creates one.
async fn signing_key(state: &AppState, tenant: &TenantCode) -> ApiResult<SigningKeyPair> {
    let active = state
        .cache
        .signing_key
        .get_or_load(tenant, || async {
            match state.store.tenant(tenant).active_signing_key().await? {
                Some((_, secret)) => secret.as_slice().try_into().map(Some).map_err(|_| {
                    ApiError::internal("the stored signing key is damaged; rotate the key")
                }),
                None => Ok(None),
            }
        })
        .await?;
    match active {
        Some(bytes) => Ok(SigningKeyPair::from_secret_bytes(&bytes)),
        // A follower signs only with a key it holds: a municipal site with
        // its own, made and registered when it first reaches the primary.
        None if state
            .replication
            .follow
            .as_ref()
            .is_some_and(|f| f.fallback) =>
        {
            Err(ApiError::conflict(
                "this node holds no certificate signing key of your municipality yet: a municipal \
             site makes its own when it first reaches the centre (murakumo follow --fallback); \
             issue at the centre until then",
            ))
        }
        None => rotate(state, tenant).await,
    }
}

async fn rotate(state: &AppState, tenant: &TenantCode) -> ApiResult<SigningKeyPair> {
    let key = SigningKeyPair::generate(&mut rand_core::OsRng);
    state
        .store
        .tenant(tenant)
        .rotate_signing_key(
            key.key_id(),
            key.verifying_key().as_bytes(),
            &key.secret_bytes(),
            None,
        )
        .await?;
    state.cache.signing_key.forget(Some(tenant));
    Ok(key)
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
    let key = rotate(&state, &session.tenant).await?;
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
        .rebuilding(&tenant, murakumo_store::System::Certificate)
    {
        return Err(crate::session::rebuilding(
            murakumo_store::System::Certificate,
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

/// The title of an issued certificate's kind as recorded in the ledger.
fn kind_title(kind: &str) -> &'static str {
    match kind {
        "resident_copy" => CertificateKind::ResidentCopy.title(),
        "record_statement" => CertificateKind::ResidentRecordStatement.title(),
        "removed_copy" => CertificateKind::RemovedRecordCopy.title(),
        "seal" => CertificateKind::SealCertificate.title(),
        _ => "証明書",
    }
}
