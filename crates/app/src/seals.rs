//! 印鑑登録: registering a seal, ending a registration (廃止・亡失・職権抹消), finding
//! registrations, the municipality's 公印, and the rule that spans systems: a resident's
//! removal (転出, 死亡, 職権消除) ends their 印鑑登録 ([`ended_by`]), in the same append as
//! the removal.

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::NewEntry;
use murakumo_resident::ResidentEvent;
use murakumo_resident_store::ResidentReads;
use murakumo_seal::{CancelReason, Context, OfficialSealSet, SealEvent, SealRecord};
use murakumo_seal_store::SealQuery;
use murakumo_seal_store::SealReads;
use murakumo_store::TenantStore;
use murakumo_tenancy::{AccessAction, AccessRecord, Permission};

use crate::access::{self, resident};
use crate::{App, Result, StaffActor, UseCaseError, entry, protection};

/// What to look registrations up by (at least one of the three).
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// 印鑑登録番号
    pub registration_number: Option<String>,
    /// 印鑑登録証番号
    pub card_number: Option<String>,
    /// 住民票コード
    pub resident_code: Option<String>,
    /// Cancelled registrations too (廃止・亡失・職権抹消).
    pub include_cancelled: bool,
}

/// Finds registrations. A registration leads to its registrant: people under 支援措置 are
/// left out for staff without the right, as in a resident search. The search is logged.
pub async fn search(app: &App, actor: &StaffActor, q: Search) -> Result<Vec<SealRecord>> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    if !given(&q.registration_number) && !given(&q.card_number) && !given(&q.resident_code) {
        return Err(UseCaseError::invalid(
            "registration_number",
            "印鑑登録番号、印鑑登録証番号、住民票コードのいずれかを入力してください",
        ));
    }
    let query = SealQuery {
        registration_number: q.registration_number.clone(),
        card_number: q.card_number.clone(),
        resident_code: q.resident_code.clone(),
        include_cancelled: q.include_cancelled,
        limit: 100,
    };
    let ts = app.tenant(&actor.tenant);
    let mut found = Vec::new();
    let mut unmasked = Vec::new();
    for reg in ts.search_seals(&query).await? {
        match ts.resident(&reg.resident_code).await? {
            Some(r) if !protection::visible(actor, &r) => continue,
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
    let subjects = std::iter::once(format!("seal-search:{described}"))
        .chain(found.iter().map(|r| resident(&r.resident_code)));
    access::log(app, actor, AccessAction::Search, subjects, "seal").await?;
    protection::log_unmasked(app, actor, &unmasked).await?;
    Ok(found)
}

/// A registration to record.
pub struct Registration {
    pub resident_code: String,
    /// 印鑑登録証番号 of the card handed over.
    pub card_number: String,
    /// 印影 (PNG).
    pub impression_png: Vec<u8>,
    /// 登録日; today if `None`.
    pub effective_date: Option<NaiveDate>,
    /// 申請日; today if `None`.
    pub notified_date: Option<NaiveDate>,
}

/// The registration `number` of the tenant, or not found.
async fn registration(ts: &TenantStore<'_>, number: &str) -> Result<SealRecord> {
    ts.seal(number).await?.ok_or_else(not_registered)
}

fn not_registered() -> UseCaseError {
    UseCaseError::not_found(
        "この印鑑登録番号の登録は、この団体にありません。印鑑登録番号を確認してください",
    )
}

/// The 印影 of a registration (PNG), through the 支援措置 gate of its registrant; logged as a
/// read of the 印影.
pub async fn impression(app: &App, actor: &StaffActor, number: &str) -> Result<Vec<u8>> {
    actor.require(Permission::ResidentRead)?;
    let ts = app.tenant(&actor.tenant);
    let reg = registration(&ts, number).await?;
    let Some(png) = ts.seal_impression(number).await? else {
        return Err(not_registered());
    };
    protection::admit_code(app, actor, &reg.resident_code, AccessAction::Read).await?;
    access::log(
        app,
        actor,
        AccessAction::Read,
        [resident(&reg.resident_code)],
        "印影",
    )
    .await?;
    Ok(png)
}

/// 交付履歴 (印鑑登録事務 M-INKAN-20): the 印鑑登録証明書 issued for a registration's
/// registrant, oldest first (発行番号, 交付日, 交付者), through the 支援措置 gate; logged as a
/// read. Each issuance is also in the access log under its 発行番号, 請求者 and 利用目的.
pub async fn issuances(
    app: &App,
    actor: &StaffActor,
    number: &str,
) -> Result<Vec<murakumo_store::IssuedRow>> {
    actor.require(Permission::ResidentRead)?;
    let ts = app.tenant(&actor.tenant);
    let reg = registration(&ts, number).await?;
    protection::admit_code(app, actor, &reg.resident_code, AccessAction::Read).await?;
    let issued = ts
        .issued_certificates_of("seal", &reg.resident_code)
        .await?;
    access::log(
        app,
        actor,
        AccessAction::Read,
        [resident(&reg.resident_code)],
        "印鑑登録証明書の交付履歴",
    )
    .await?;
    Ok(issued)
}

/// 印鑑登録抹消通知書 (印鑑登録事務 M-INKAN-19): what the registrant is told when the
/// municipality ended a registration itself (職権抹消).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovalNotice {
    /// To whom: the registrant's 氏名, and where it is sent — the 転出先 of one who moved
    /// out, else the address in the register.
    pub name: String,
    pub address: String,
    pub registration_number: String,
    pub registered_on: NaiveDate,
    pub cancelled_on: NaiveDate,
    /// 抹消の事由 (転出, 死亡, 氏名変更 …).
    pub reason: String,
    /// 都道府県 + 市区町村 and who notifies (the 認証者 of certificates).
    pub municipality: String,
    pub issuer: String,
}

/// The 印鑑登録抹消通知書 of a registration ended ex officio, through its registrant's gate;
/// logged as an export of the registrant's 氏名 and 住所. A registration in force, or ended at
/// the registrant's request (廃止, 亡失), has none.
pub async fn removal_notice(app: &App, actor: &StaffActor, number: &str) -> Result<RemovalNotice> {
    actor.require(Permission::ResidentRead)?;
    let ts = app.tenant(&actor.tenant);
    let reg = registration(&ts, number).await?;
    let murakumo_seal::SealStatus::Cancelled {
        date,
        reason: CancelReason::ExOfficio { reason },
    } = &reg.status
    else {
        return Err(UseCaseError::conflict(
            "抹消通知書は職権で抹消した登録にだけあります(この登録は有効か、本人の申請で廃止・亡失したものです)",
        ));
    };
    let Some(person) = ts.resident(&reg.resident_code).await? else {
        return Err(UseCaseError::not_found("登録者の住民記録がありません"));
    };
    protection::admit(app, actor, &person, AccessAction::Export).await?;
    let address = match &person.status {
        murakumo_resident::Status::Removed {
            reason: murakumo_resident::RemovalReason::MovedOut { destination },
            ..
        } => destination.clone(),
        _ => format!("{} {}", person.address.text, person.address.katagaki)
            .trim()
            .to_string(),
    };
    // Notified by whoever certifies today: the 市区町村長, or the 職務代理者 in force.
    let settings = app.settings(&actor.tenant).await?;
    let (issuer_title, issuer_name) = crate::certificates::issuer(&settings)?;
    let notice = RemovalNotice {
        name: person.full_name(),
        address,
        registration_number: reg.registration_number.clone(),
        registered_on: reg.registered_on,
        cancelled_on: *date,
        reason: reason.clone(),
        municipality: crate::statistics::municipality(app, &actor.tenant).await?,
        issuer: format!("{issuer_title} {issuer_name}"),
    };
    access::log(
        app,
        actor,
        AccessAction::Export,
        [resident(&reg.resident_code)],
        "印鑑登録抹消通知書:name,address",
    )
    .await?;
    Ok(notice)
}

/// Registers a seal and returns the registration with its new 印鑑登録番号. Checked against
/// the register as it stands when appended, with its access record in the same transaction.
pub async fn register(app: &App, actor: &StaffActor, reg: Registration) -> Result<SealRecord> {
    let ts = app.tenant(&actor.tenant);
    let today = murakumo_core::today_in_japan();
    let effective = reg.effective_date.unwrap_or(today);
    let (code, reg, ts) = (reg.resident_code.as_str(), &reg, &ts);
    let number = access::append_decided(ts, actor, || async move {
        let resident = ts.resident(code).await?;
        if let Some(r) = &resident {
            protection::admit(app, actor, r, AccessAction::Change).await?;
        }
        let existing = ts.seals_of_resident(code).await?;
        // A card number is issued once: one returned (廃止) or reported lost (亡失) never
        // stands for a registration again.
        let card_in_use = !ts
            .search_seals(&SealQuery {
                card_number: Some(reg.card_number.clone()),
                include_cancelled: true,
                limit: 1,
                ..Default::default()
            })
            .await?
            .is_empty();
        let mut event = SealEvent::Registered {
            registration_number: String::new(),
            resident_code: code.to_string(),
            card_number: reg.card_number.clone(),
            impression_png: reg.impression_png.clone(),
            notified_date: reg.notified_date.unwrap_or(today),
        };
        let ctx = Context {
            resident: resident.as_ref(),
            registration: None,
            active_of_resident: existing.iter().find(|r| r.is_active()),
            card_in_use,
            scanned_at_counter: true,
        };
        murakumo_seal::validate(&event, &ctx, effective, today)?;
        if effective != today {
            // A back-dated registration must also hold on its 登録日 (age, residence), as a
            // migration import checks it: otherwise an export of this register would not
            // import again.
            let then = ts.resident_as_of(code, effective).await?;
            let ctx = Context {
                resident: then.as_ref(),
                ..ctx
            };
            murakumo_seal::validate(&event, &ctx, effective, today)?;
        }
        // The number is taken only for a valid request: a refused one changes nothing, not
        // even the counter.
        let number = ts.next_seal_number().await?;
        if let SealEvent::Registered {
            registration_number,
            ..
        } = &mut event
        {
            *registration_number = number.clone();
        }
        Ok(logged(actor, effective, &event, number))
    })
    .await?;
    ts.seal(&number)
        .await?
        .ok_or_else(|| UseCaseError::internal("the recorded registration was not found"))
}

/// Ends a registration: 廃止, 亡失 (the card is then void) or 職権抹消. Checked against the
/// registration as it stands when appended, with its access record in the same transaction.
pub async fn cancel(
    app: &App,
    actor: &StaffActor,
    number: &str,
    reason: CancelReason,
    effective: Option<NaiveDate>,
    notified: Option<NaiveDate>,
) -> Result<SealRecord> {
    let ts = app.tenant(&actor.tenant);
    let today = murakumo_core::today_in_japan();
    let effective = effective.unwrap_or(today);
    let (ts, reason) = (&ts, &reason);
    access::append_decided(ts, actor, || async move {
        let registration = ts.seal(number).await?;
        if let Some(reg) = &registration {
            protection::admit_code(app, actor, &reg.resident_code, AccessAction::Change).await?;
        }
        let event = SealEvent::Cancelled {
            registration_number: number.to_string(),
            resident_code: registration
                .as_ref()
                .map(|r| r.resident_code.clone())
                .unwrap_or_default(),
            reason: reason.clone(),
            notified_date: notified.unwrap_or(today),
        };
        let ctx = Context {
            resident: None,
            registration: registration.as_ref(),
            active_of_resident: None,
            card_in_use: false,
            scanned_at_counter: true,
        };
        murakumo_seal::validate(&event, &ctx, effective, today)?;
        Ok(logged(actor, effective, &event, ()))
    })
    .await?;
    ts.seal(number)
        .await?
        .ok_or_else(|| UseCaseError::internal("the cancelled registration was not found"))
}

/// A seal event's entry (on its 異動日) and the access record of the change it makes to its
/// registrant.
fn logged<T>(
    actor: &StaffActor,
    effective: NaiveDate,
    event: &SealEvent,
    decided: T,
) -> (Vec<NewEntry>, Vec<AccessRecord>, T) {
    let mut e = entry(&actor.id(), event);
    e.effective_date = effective;
    let records = access::records(
        actor,
        AccessAction::Change,
        [resident(event.resident_code())],
        &event.label_ja(),
    );
    (vec![e], records, decided)
}

/// Why a 異動 ends its person's 印鑑登録 (職権抹消), if it does: a removal (転出, 死亡, 職権消除)
/// always; a 氏名変更 when the clerk found that the registered seal no longer shows the 氏名
/// (`name_change_ends`, 印鑑登録事務 M-INKAN-17).
fn ending_reason(event: &ResidentEvent, name_change_ends: bool) -> Option<(&str, String)> {
    match event {
        ResidentEvent::Removed {
            resident_code,
            reason,
            ..
        } => Some((resident_code, reason.label_ja().to_string())),
        ResidentEvent::NameChanged { resident_code, .. } if name_change_ends => Some((
            resident_code,
            "氏名変更(登録印鑑が氏名を表さなくなったため)".to_string(),
        )),
        _ => None,
    }
}

/// The 職権抹消 that a batch of 異動 brings with it, event by event (appended right after
/// the event that brings them): every active registration of a person the batch removes
/// (転出, 死亡, 職権消除), or whose 氏名変更 ends it (`name_change_ends`), ends on the 異動日,
/// each registration once however many events name its registrant. `registrations` are the
/// registrations of the people concerned, as recorded now.
pub fn ended_by(
    events: &[ResidentEvent],
    name_change_ends: bool,
    registrations: &[SealRecord],
    actor: &str,
    effective: NaiveDate,
    notified: NaiveDate,
) -> Vec<Vec<NewEntry>> {
    let mut ended: Vec<&str> = Vec::new();
    let mut all = Vec::new();
    for event in events {
        let mut out = Vec::new();
        let Some((resident_code, why)) = ending_reason(event, name_change_ends) else {
            all.push(out);
            continue;
        };
        for r in registrations
            .iter()
            .filter(|r| r.is_active() && r.resident_code == resident_code)
        {
            if ended.contains(&r.registration_number.as_str()) {
                continue;
            }
            ended.push(&r.registration_number);
            let mut e = entry(
                actor,
                &SealEvent::Cancelled {
                    registration_number: r.registration_number.clone(),
                    resident_code: resident_code.to_string(),
                    reason: CancelReason::ExOfficio {
                        reason: why.clone(),
                    },
                    notified_date: notified,
                },
            );
            e.effective_date = effective;
            out.push(e);
        }
        all.push(out);
    }
    all
}

/// The registrations of everyone a batch of 異動 may end (see [`ended_by`]), as recorded now.
pub async fn registrations_ended_by(
    app: &App,
    tenant: &TenantCode,
    events: &[ResidentEvent],
    name_change_ends: bool,
) -> Result<Vec<SealRecord>> {
    let ts = app.tenant(tenant);
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for event in events {
        if let Some((resident_code, _)) = ending_reason(event, name_change_ends)
            && !seen.contains(&resident_code)
        {
            seen.push(resident_code);
            out.extend(ts.seals_of_resident(resident_code).await?);
        }
    }
    Ok(out)
}

/// What a 氏名変更 does to the person's 印鑑登録 (印鑑登録事務 M-INKAN-17): `true` when it ends
/// it. A person with an active registration needs the clerk's choice — `end` when the seal
/// no longer shows the 氏名, `keep` when it still does (名, 旧氏, 通称, カタカナ併記名) — for
/// the seal itself is not read by the system; without one, nothing is decided.
pub async fn name_change_ends_seal(
    app: &App,
    tenant: &TenantCode,
    resident_code: &str,
    choice: Option<&str>,
) -> Result<bool> {
    let active = app
        .tenant(tenant)
        .seals_of_resident(resident_code)
        .await?
        .iter()
        .any(SealRecord::is_active);
    match (active, choice.map(str::trim).filter(|c| !c.is_empty())) {
        (false, _) => Ok(false),
        (true, Some("end")) => Ok(true),
        (true, Some("keep")) => Ok(false),
        (true, None) => Err(UseCaseError::invalid(
            "seal",
            "この方には印鑑登録があります。登録印鑑が新しい氏名を表さなくなるときは「抹消する」(end)、名・旧氏・通称などで引き続き氏名を表すときは「継続する」(keep)を選んでください",
        )),
        (true, Some(_)) => Err(UseCaseError::invalid(
            "seal",
            "印鑑登録の扱いは end(抹消する) か keep(継続する) を選んでください",
        )),
    }
}

/// Registers or replaces the 公印 printed on certificates. Replacing one needs a reason.
pub async fn set_official_seal(
    app: &App,
    actor: &StaffActor,
    png: Vec<u8>,
    reason: Option<String>,
) -> Result<()> {
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let ts = app.tenant(&actor.tenant);
    let replacing = ts.official_seal().await?.is_some();
    let reason = match (reason, replacing) {
        (Some(r), _) => r,
        (None, false) => "公印の登録".to_string(),
        (None, true) => {
            return Err(UseCaseError::invalid(
                "reason",
                "公印を変更するときは変更の理由を入力してください(例: 新市長就任)",
            ));
        }
    };
    murakumo_seal::check_impression(&png)
        .map_err(|e| UseCaseError::invalid("body", e.to_string().replace("印影", "公印")))?;
    ts.append(vec![entry(&actor.id(), &OfficialSealSet { png, reason })])
        .await?;
    app.cache.official_seal.forget(Some(&actor.tenant));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use murakumo_resident::RemovalReason;
    use murakumo_seal::SealStatus;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).expect("date")
    }

    fn reg(number: &str, code: &str, status: SealStatus) -> SealRecord {
        SealRecord {
            registration_number: number.into(),
            resident_code: code.into(),
            card_number: format!("C-{number}"),
            registered_on: day(1),
            status,
        }
    }

    fn removed(code: &str, reason: RemovalReason) -> ResidentEvent {
        ResidentEvent::Removed {
            resident_code: code.into(),
            reason,
            notified_date: day(3),
        }
    }

    fn cancelled(entries: &[NewEntry]) -> Vec<(String, String, CancelReason)> {
        entries
            .iter()
            .map(|e| {
                match SealEvent::decode(&e.kind, e.version, &e.payload)
                    .expect("decodes")
                    .expect("a seal event")
                {
                    SealEvent::Cancelled {
                        registration_number,
                        resident_code,
                        reason,
                        ..
                    } => (registration_number, resident_code, reason),
                    other => panic!("not a cancellation: {other:?}"),
                }
            })
            .collect()
    }

    use murakumo_ledger::EventCodec;

    #[test]
    fn a_removal_ends_the_registration_once() {
        let regs = [reg("1", "10000000001", SealStatus::Active)];
        // The same person named by two removals in one batch: one 職権抹消.
        let events = [
            removed("10000000001", RemovalReason::Died),
            removed("10000000001", RemovalReason::Died),
        ];
        let ended = ended_by(&events, false, &regs, "staff:s-1", day(2), day(3));
        assert_eq!(ended.len(), 2, "one list per event");
        assert!(ended[1].is_empty(), "not ended twice");
        let ended = ended.concat();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].effective_date, day(2), "on the removal's 異動日");
        assert_eq!(ended[0].actor, "staff:s-1");
        let (number, code, reason) = cancelled(&ended).remove(0);
        assert_eq!((number.as_str(), code.as_str()), ("1", "10000000001"));
        assert_eq!(
            reason,
            CancelReason::ExOfficio {
                reason: RemovalReason::Died.label_ja().to_string()
            }
        );
    }

    #[test]
    fn only_active_registrations_of_removed_people_end() {
        let regs = [
            reg(
                "1",
                "10000000001",
                SealStatus::Cancelled {
                    date: day(1),
                    reason: CancelReason::Abolished,
                },
            ),
            reg("2", "10000000001", SealStatus::Active),
            reg("3", "10000000002", SealStatus::Active),
        ];
        let moved = removed(
            "10000000001",
            RemovalReason::MovedOut {
                destination: "札幌市".into(),
            },
        );
        let ended = cancelled(&ended_by(&[moved], false, &regs, "a", day(2), day(3)).concat());
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(
            ended[0].0, "2",
            "the already cancelled one is not ended again"
        );
    }

    #[test]
    fn a_name_change_ends_the_registration_only_when_the_clerk_says_so() {
        let regs = [reg("1", "10000000001", SealStatus::Active)];
        let renamed = ResidentEvent::NameChanged {
            resident_code: "10000000001".into(),
            family_name: "高橋".into(),
            given_name: "花子".into(),
            family_kana: "タカハシ".into(),
            given_kana: "ハナコ".into(),
            notified_date: day(3),
        };
        let kept = ended_by(
            std::slice::from_ref(&renamed),
            false,
            &regs,
            "a",
            day(2),
            day(3),
        );
        assert!(kept.concat().is_empty());
        let ended = cancelled(&ended_by(&[renamed], true, &regs, "a", day(2), day(3)).concat());
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].0, "1");
    }

    #[test]
    fn other_changes_end_nothing() {
        let regs = [reg("1", "10000000001", SealStatus::Active)];
        let moved_house = ResidentEvent::Relocated {
            resident_code: "10000000001".into(),
            address: "深川市1条1番".into(),
            katagaki: String::new(),
            notified_date: day(3),
        };
        assert!(
            ended_by(&[moved_house], true, &regs, "a", day(2), day(3))
                .concat()
                .is_empty()
        );
    }
}
