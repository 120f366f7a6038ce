//! 証明書の交付: 住民票の写し, 記載事項証明書, 除票の写し and 印鑑登録証明書 as signed PDFs.
//! [`issue`] is the whole use case — who may have which certificate (請求者, 支援措置,
//! 第三者 and 本籍), what it certifies as of which date, its 発行番号 (taken only once
//! nothing can refuse it, so a refusal leaves no gap), the rendering, and the ledger entry
//! that records it with its access-log records in one transaction.

use murakumo_resident_store::ResidentReads;
use murakumo_seal_store::SealReads;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{NaiveDate, Utc};
use murakumo_core::{TenantCode, WarekiDate, in_japan};
use murakumo_documents::{
    Address, Certificate, CertificateKind, CertificateOptions, Member, Renderer, Sex as DocSex,
    SigningKeyPair,
};
use murakumo_resident::{
    Citizenship, EntryReason, Record, RemovalReason, ResidentEvent, Sex, Status,
};
use murakumo_store::TenantStore;
use murakumo_tenancy::settings::ResolvedSetting;
use murakumo_tenancy::{AccessAction, CertificateIssued};

use crate::{App, Result, StaffActor, UseCaseError, access, entry, protection, residents};

/// Where an issuance goes: the tenant ledger on the primary, or — on a
/// municipal-site fallback node (利用拠点バックアップ) while the centre is
/// unreachable — the node-local outbox, with a 発行番号 from the site's own
/// series (`R8B1-0000001`), replayed to the centre by 発行番号 when the
/// link returns. Every certificate kind goes through this (住民票の写し now,
/// 印鑑登録証明書 the same way).
#[derive(Clone, Debug)]
pub enum IssueSlot {
    Ledger,
    Outbox { series_suffix: String },
}

impl IssueSlot {
    /// The next 発行番号: the centre's series, or this site's own.
    pub async fn take_number(&self, ts: &TenantStore<'_>, series: &str) -> Result<String> {
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
    pub async fn record(
        &self,
        ts: &TenantStore<'_>,
        issue_number: &str,
        entry: murakumo_ledger::NewEntry,
        actor: &str,
        access: &[murakumo_tenancy::AccessRecord],
    ) -> Result<()> {
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
pub fn renderer() -> Result<Arc<Renderer>> {
    static RENDERER: OnceLock<Result<Arc<Renderer>, String>> = OnceLock::new();
    RENDERER
        .get_or_init(|| Renderer::system().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| UseCaseError::internal(format!("certificates cannot be printed: {e}")))
}

/// Renders running at once: one per core (a fair semaphore, so requests
/// are rendered in the order they got here).
fn render_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    TURNS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// A certificate asked for.
#[derive(Clone, Debug)]
pub struct Request {
    /// `resident_copy` (住民票の写し), `record_statement` (住民票記載事項証明書),
    /// `removed_copy` (除票の写し) or `seal` (印鑑登録証明書: give `card_number`).
    pub kind: String,
    /// 印鑑登録証番号 of the card presented (`seal` only).
    pub card_number: Option<String>,
    /// `seal` only: the 印鑑登録番号 the clerk has on screen; the card must belong to it.
    pub registration_number: Option<String>,
    /// `seal` only (required): the registrant's 氏名 as written on the 申請書.
    pub applicant_name: Option<String>,
    /// `seal` only (required): the registrant's 生年月日 as written on the 申請書.
    pub applicant_birth_date: Option<NaiveDate>,
    /// The people to certify (住民票コード); or `household_id` for 世帯全員.
    pub resident_codes: Option<Vec<String>>,
    pub household_id: Option<String>,
    /// Certify the record as it stood on this date; today if `None`.
    pub as_of: Option<NaiveDate>,
    pub include_honseki: bool,
    pub include_relationship: bool,
    pub include_resident_code: bool,
    /// 請求者: `本人`, `同一世帯`, `代理人`, `第三者` or `公用`.
    pub requester: String,
    /// 利用目的
    pub purpose: String,
}

/// Where this node stands for issuing: where the issuance goes, and whether it signs only
/// with a key it was given (a municipal site never makes the municipality's key).
#[derive(Clone, Debug)]
pub struct Node {
    pub slot: IssueSlot,
    pub site_keys_only: bool,
}

/// An issued certificate.
pub struct Issued {
    pub pdf: Vec<u8>,
    /// 発行番号
    pub issue_number: String,
    /// The certified digest (hex).
    pub digest: String,
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

/// Who certifies (認証者): the 職務代理者 while one is in force on the day (標準仕様書
/// §1.3.9/M2; the settings are dated, so the switch happens by itself), else the
/// 市区町村長, whose title and name must then be set. A deputy with a title but no name, or
/// the reverse, certifies nothing.
pub(crate) fn issuer(settings: &[ResolvedSetting]) -> Result<(String, String)> {
    let set = |key: &str| {
        settings
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.value.clone())
    };
    let required = |key: &str| {
        set(key).ok_or_else(|| {
            UseCaseError::conflict(format!(
                "設定 {key} がこの団体にまだありません。団体管理者が「設定」で登録してください"
            ))
        })
    };
    match (
        set("certificate.deputy_title"),
        set("certificate.deputy_name"),
    ) {
        (Some(title), Some(name)) => Ok((title, name)),
        (None, None) => Ok((
            required("certificate.issuer_title")?,
            required("certificate.issuer_name")?,
        )),
        _ => Err(UseCaseError::conflict(
            "職務代理者の職名と氏名は、両方を同じ期間で設定してください(片方だけでは証明書を発行しません)。団体管理者が「設定」で直してください",
        )),
    }
}

/// The 備考 of a person's 異動 as the standard words them, from the events up
/// to the certificate's date: how and when they came (「令和8年11月20日
/// 東京都新宿区から転入 11月25日届出」), each 転居 (「令和8年12月1日 転居 12月3日届出」), a
/// 転出予定 (from its date on: 標準仕様書 §5.1 leaves it off a certificate issued
/// before it, `issued_on`), and why and when the record became a 除票.
fn history_notes(events: &[(ResidentEvent, NaiveDate)], issued_on: NaiveDate) -> Vec<String> {
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
            } if *planned_date <= issued_on
                && !withdrawn()
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
            // 西暦 for a foreign resident (標準仕様書 §1.1.9).
            notes.push(format!(
                "在留期間の満了日 {}",
                murakumo_documents::seireki(*until)
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
        former_surname: r
            .former_surname
            .as_ref()
            .map(|f| format!("{}（{}）", f.name, f.kana)),
        alias: r.person.alias.as_ref().map(|a| match &r.alias_kana {
            Some(kana) => format!("{a}（{kana}）"),
            None => a.clone(),
        }),
        foreign: r.person.is_foreign(),
        notes,
    }
}

/// Issues a certificate and records the issuance (who, for whom, why, digest) in the
/// ledger and the access log. Certificates of residents under 支援措置 are refused to third
/// parties.
pub async fn issue(app: &App, actor: &StaffActor, node: &Node, req: Request) -> Result<Issued> {
    let slot = &node.slot;
    let kind = match req.kind.as_str() {
        "resident_copy" => CertificateKind::ResidentCopy,
        "record_statement" => CertificateKind::ResidentRecordStatement,
        "removed_copy" => CertificateKind::RemovedRecordCopy,
        "seal" => CertificateKind::SealCertificate,
        _ => {
            return Err(UseCaseError::invalid(
                "kind",
                "証明書の種類は resident_copy(住民票の写し)、record_statement(記載事項証明書)、removed_copy(除票の写し)、seal(印鑑登録証明書)のいずれかを指定してください",
            ));
        }
    };
    if !REQUESTERS.contains(&req.requester.as_str()) {
        return Err(UseCaseError::invalid(
            "requester",
            format!(
                "請求者の区分は {} のいずれかを指定してください",
                REQUESTERS.join("・")
            ),
        ));
    }
    if req.purpose.trim().is_empty() {
        return Err(UseCaseError::invalid(
            "purpose",
            "利用目的を入力してください(例: 年金の手続き)",
        ));
    }
    if req.requester == "第三者" && (req.include_honseki || req.include_resident_code) {
        return Err(UseCaseError::invalid(
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
        return Err(UseCaseError::invalid(
            "as_of",
            "基準日に未来の日付は指定できません。今日以前の日付を入力してください",
        ));
    }
    let ts = app.tenant(&actor.tenant);
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
            let then: Vec<String> = residents::household_as_of(&ts, h, as_of, today)
                .await?
                .into_iter()
                .map(|r| r.resident_code)
                .collect();
            (current_records(&ts, &then).await?, true)
        }
        (None, Some(h)) => (ts.household(h).await?, true),
        _ => {
            return Err(UseCaseError::invalid(
                "resident_codes",
                "住民票コード(resident_codes)か世帯番号(household_id)のどちらか一方を指定してください",
            ));
        }
    };
    if currents.is_empty() {
        return Err(UseCaseError::not_found(
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
        if current.protected_on(protection::today()) && third_party {
            access::log(
                app,
                actor,
                AccessAction::Issue,
                [access::resident(code)],
                protection::REFUSED,
            )
            .await?;
            return Err(UseCaseError::forbidden(
                "支援措置の対象者の証明書は、本人以外からの請求には交付できません",
            ));
        }
        protection::admit(app, actor, current, AccessAction::Issue).await?;
        let events: Vec<(ResidentEvent, NaiveDate)> = ts
            .resident_events(code)
            .await?
            .into_iter()
            .map(|(e, ev)| (ev, e.effective_date))
            .filter(|(_, d)| *d <= as_of)
            .collect();
        let record = murakumo_resident::replay(events.iter().map(|(e, d)| (e, *d)), as_of)
            .map_err(|e| UseCaseError::conflict(e.to_string()))?
            .ok_or_else(|| {
                UseCaseError::not_found(format!("住民票コード {code} の方は {} 時点で住民記録にありません。基準日を確認してください", murakumo_documents::wareki(as_of)))
            })?;
        histories.insert(
            code.clone(),
            history_notes(&events, murakumo_core::today_in_japan()),
        );
        match (kind, record.is_removed()) {
            (CertificateKind::RemovedRecordCopy, false) => {
                return Err(UseCaseError::invalid(
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
                return Err(UseCaseError::invalid(
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

    let settings = app.settings(&actor.tenant).await?;
    let (issuer_title, issuer_name) = issuer(&settings)?;
    let key = signing_key(app, &actor.tenant, &actor.id(), node.site_keys_only).await?;
    let series = WarekiDate::from_gregorian(today).map_or(today.format("%Y").to_string(), |w| {
        format!("{}{}", w.era().letter(), w.year())
    });
    let info = app.tenant_info(&actor.tenant).await?;
    let head_name = household_head(&ts, &records, as_of).await?;
    let first = &records[0];
    let mut cert = Certificate {
        kind,
        tenant_code: actor.tenant.to_string(),
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
        official_seal_image: app
            .official_seal(&actor.tenant)
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
        murakumo_documents::DocumentError::MissingGlyph { field, codepoint } => UseCaseError::invalid(
            "resident_codes",
            format!(
                "証明書に印字できない文字があります(項目 {field}、文字 U+{codepoint:04X})。外字を文字情報基盤の文字に同定する職権修正をしてから交付してください。発行番号は使われていません"
            ),
        ),
        e @ murakumo_documents::DocumentError::DoesNotFit { .. } => {
            UseCaseError::invalid("resident_codes", e.message_ja())
        }
        other => UseCaseError::internal(other.to_string()),
    })?;
    let issue_number = slot.take_number(&ts, &series).await?;
    cert.issue_number = issue_number.clone();
    // At most one render per core at a time, first come first served: fifty
    // renders sharing two cores would all finish late together.
    let turn = render_turns()
        .acquire()
        .await
        .map_err(|e| UseCaseError::internal(e.to_string()))?;
    let issued = tokio::task::spawn_blocking(move || renderer.issue(&cert, &key))
        .await
        .map_err(|e| UseCaseError::internal(e.to_string()))?
        .map_err(|e| UseCaseError::invalid("resident_codes", e.to_string()))?;
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
    let access: Vec<_> = access::records(
        actor,
        AccessAction::Issue,
        codes.iter().map(|c| access::resident(c)),
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
        entry(&actor.id(), &event),
        &actor.id(),
        &access,
    )
    .await?;
    metrics::counter!("murakumo_access_log_entries_total").increment(access.len() as u64);
    metrics::counter!("murakumo_certificates_issued_total").increment(1);
    Ok(Issued {
        pdf: issued.pdf,
        issue_number,
        digest,
    })
}

/// The name printed as 世帯主: the head of the household of the first person
/// certified as of `as_of` — for a 除票, as of the removal, when the
/// household was last whole — whether or not the head is among
/// those printed. Blank if the register cannot tell (no head then).
async fn household_head(
    ts: &TenantStore<'_>,
    records: &[Record],
    as_of: NaiveDate,
) -> Result<String> {
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
    Ok(residents::head_as_of(ts, &first.household_id, date)
        .await?
        .map(|h| h.full_name())
        .unwrap_or_default())
}

/// The current records of `codes`, in that order; an unknown code is an error.
async fn current_records(ts: &TenantStore<'_>, codes: &[String]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for code in codes {
        out.push(ts.resident(code).await?.ok_or_else(|| {
            UseCaseError::not_found(format!(
                "no resident with 住民票コード {code} in your municipality"
            ))
        })?);
    }
    Ok(out)
}

/// The registration a presented 印鑑登録証 stands for, in force on `as_of`
/// (印鑑登録証明書 certify only what is registered now: `as_of` is today).
async fn seal_for_card(
    ts: &TenantStore<'_>,
    req: &Request,
    as_of: NaiveDate,
    today: NaiveDate,
) -> Result<murakumo_seal::SealRecord> {
    if as_of != today {
        return Err(UseCaseError::invalid(
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
            UseCaseError::invalid(
                "card_number",
                "印鑑登録証明書の交付には印鑑登録証が必要です。印鑑登録証の番号を入力してください",
            )
        })?;
    let found = ts
        .search_seals(&murakumo_seal_store::SealQuery {
            card_number: Some(card.to_string()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    let reg = found.into_iter().next().ok_or_else(|| {
        UseCaseError::not_found(format!(
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
        return Err(UseCaseError::invalid(
            "card_number",
            format!(
                "提示された印鑑登録証は、画面の登録({on_screen})のものではありません。登録証と申請者を確認してください"
            ),
        ));
    }
    if let Some(codes) = &req.resident_codes
        && !codes.iter().all(|c| *c == reg.resident_code)
    {
        return Err(UseCaseError::invalid(
            "card_number",
            "この印鑑登録証は別の方の登録のものです。登録証と申請者を確認してください",
        ));
    }
    let birth_date = req.applicant_birth_date.ok_or_else(|| {
        UseCaseError::invalid(
            "applicant_birth_date",
            "申請書に書かれた登録者の生年月日を入力してください",
        )
    })?;
    let registrant = ts
        .resident(&reg.resident_code)
        .await?
        .ok_or_else(|| UseCaseError::internal("印鑑登録の登録者の住民記録が見つかりません"))?;
    murakumo_seal::check_applicant(
        &registrant,
        req.applicant_name.as_deref().unwrap_or_default(),
        birth_date,
    )?;
    Ok(reg)
}

pub fn hex_digest(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tenant's active signing key (cached); the first issuance creates one — except on a
/// node that signs only with keys it was given (`site_keys_only`: a municipal site, which
/// makes and registers its own key when it first reaches the centre).
async fn signing_key(
    app: &App,
    tenant: &TenantCode,
    actor: &str,
    site_keys_only: bool,
) -> Result<SigningKeyPair> {
    let active = app
        .cache
        .signing_key
        .get_or_load(tenant, || async {
            match app.tenant(tenant).active_signing_key().await? {
                Some((_, secret)) => secret.as_slice().try_into().map(Some).map_err(|_| {
                    UseCaseError::internal("the stored signing key is damaged; rotate the key")
                }),
                None => Ok(None),
            }
        })
        .await?;
    match active {
        Some(bytes) => Ok(SigningKeyPair::from_secret_bytes(&bytes)),
        None if site_keys_only => Err(UseCaseError::conflict(
            "this node holds no certificate signing key of your municipality yet: a municipal \
             site makes its own when it first reaches the centre (murakumo follow --fallback); \
             issue at the centre until then",
        )),
        None if app.tenant(tenant).holds_sealed_signing_keys().await? => {
            // Making a key here would leave the platform's other nodes unable to sign.
            tracing::error!(%tenant, "the municipality's signing keys are sealed under another \
                platform key than this node's: start it with the platform's --platform-key-file, \
                or let the municipality's administrator rotate the key");
            Err(UseCaseError::Unavailable {
                code: "signing_key_sealed",
                message: "このサーバーの基盤鍵では、この団体の証明書の署名鍵を開けません。基盤運用者に連絡してください(基盤の鍵ファイルでの再起動、又は団体管理者による署名鍵の更新が必要です)".into(),
                retry_after_secs: None,
            })
        }
        None => rotate_key(app, tenant, actor).await,
    }
}

/// Starts signing with a new key (`actor`: who asked, or whose certificate is the first);
/// certificates signed with the old one keep verifying.
pub async fn rotate_key(app: &App, tenant: &TenantCode, actor: &str) -> Result<SigningKeyPair> {
    let key = SigningKeyPair::generate(&mut rand_core::OsRng);
    app.tenant(tenant)
        .rotate_signing_key(
            actor,
            key.key_id(),
            key.verifying_key().as_bytes(),
            &key.secret_bytes(),
        )
        .await?;
    app.cache.signing_key.forget(Some(tenant));
    Ok(key)
}

/// The title of an issued certificate's kind as recorded in the ledger.
pub fn kind_title(kind: &str) -> &'static str {
    match kind {
        "resident_copy" => CertificateKind::ResidentCopy.title(),
        "record_statement" => CertificateKind::ResidentRecordStatement.title(),
        "removed_copy" => CertificateKind::RemovedRecordCopy.title(),
        "seal" => CertificateKind::SealCertificate.title(),
        _ => "証明書",
    }
}
