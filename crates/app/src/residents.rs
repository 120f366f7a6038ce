//! 住民記録: recording a 異動. Every 異動 — a 転入, 出生 or 職権記載, a household's 転入,
//! a 転居, 転出, 死亡, 世帯変更, 氏名変更, 職権修正, 支援措置 — is recorded by
//! [`record_change`]: through the 支援措置 gate, checked against the register (the
//! person's record as of the 異動日 and as last recorded, the household rules on the state
//! after the whole batch), with the 印鑑登録 a removal ends, and appended with its
//! access-log records in one transaction only if the register did not move since the
//! check.

use murakumo_resident_store::ResidentReads;
use std::collections::BTreeSet;

use chrono::NaiveDate;
use murakumo_core::{TenantCode, today_in_japan};
use murakumo_ledger::NewEntry;
use murakumo_resident::{
    Alias, Citizenship, EntryReason, FormerSurname, HEAD, Person, Record, RemovalReason,
    ResidentEvent, Sex, Status, Warning, check_households, households_touched,
    next_addressee_number, next_household_id, validate,
};
use murakumo_store::TenantStore;
use murakumo_tenancy::{AccessAction, Permission};

use crate::{App, Result, StaffActor, UseCaseError, access, entry, protection, seals};

/// 異動 of one municipality are decided and appended one at a time on this node.
/// Correctness does not rest on it — an append is refused when anything was appended after
/// its check (see [`record_change`]), whichever node or request did it — but fifty clerks of
/// one node would otherwise check again and again. Hold it while choosing numbers (世帯番号,
/// 住民票コード) and recording.
pub async fn change_turn(tenant: &TenantCode) -> tokio::sync::OwnedMutexGuard<()> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static TURNS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let turn = TURNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(tenant.as_str().to_string())
        .or_default()
        .clone();
    turn.lock_owned().await
}

/// The 世帯番号 a new household gets now: the next of the series.
pub async fn next_household(ts: &TenantStore<'_>) -> Result<String> {
    Ok(next_household_id(
        ts.highest_household_id().await?.as_deref(),
    ))
}

/// Everyone whose record put them in a household on `date` (as it was then), 除票
/// included, people who have left it for another household since among them.
async fn household_records_as_of(
    ts: &TenantStore<'_>,
    household_id: &str,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<Record>> {
    let candidates = ts.household_records(household_id).await?;
    if date >= today {
        return Ok(candidates
            .into_iter()
            .filter(|r| r.household_id == household_id)
            .collect());
    }
    let mut out = Vec::new();
    for c in candidates {
        if let Some(r) = ts.resident_as_of(&c.resident_code, date).await?
            && r.household_id == household_id
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// The members of a household as of `date` (除票 then are left out).
pub async fn household_as_of(
    ts: &TenantStore<'_>,
    household_id: &str,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<Record>> {
    Ok(household_records_as_of(ts, household_id, date, today)
        .await?
        .into_iter()
        .filter(|r| !r.is_removed())
        .collect())
}

/// The 世帯主 of `household_id` on `date`: a member then, or one who left the register that
/// very day (a household that moved out together, whose 除票 still name their 世帯主).
pub async fn head_as_of(
    ts: &TenantStore<'_>,
    household_id: &str,
    date: NaiveDate,
) -> Result<Option<Record>> {
    Ok(
        household_records_as_of(ts, household_id, date, today_in_japan())
            .await?
            .into_iter()
            .find(|r| {
                r.relationship == HEAD
                    && match &r.status {
                        Status::Removed { date: gone, .. } => *gone >= date,
                        _ => true,
                    }
            }),
    )
}

/// The next 住民票コード of the municipality's range (call it under the [`change_turn`], so
/// two births of one node never get the same; another node's would be refused as a
/// duplicate).
pub async fn allot_resident_code(app: &App, tenant: &TenantCode) -> Result<String> {
    let settings = app.settings(tenant).await?;
    let range = settings
        .iter()
        .find(|s| s.key == "resident.code_range")
        .and_then(|s| s.value.as_deref())
        .and_then(murakumo_tenancy::settings::code_range)
        .ok_or_else(|| {
            UseCaseError::invalid(
                "resident_code",
                "住民票コードの範囲が設定されていないため、自動で記載できません。団体管理者が設定 resident.code_range に都道府県から指定された範囲を設定するか、住民票コードを入力してください",
            )
        })?;
    let (first, last) = (format!("{:010}", range.0), format!("{:010}", range.1));
    let highest = app
        .tenant(tenant)
        .highest_resident_code_in(&first, &last)
        .await?;
    Ok(
        murakumo_resident::next_resident_code(range, highest.as_deref())
            .map(|c| c.as_str().to_string())?,
    )
}

/// Refuses a 異動 with a text a certificate will print but the certificate font cannot: the
/// clerk identifies the 外字 as its MJ character now, not when a resident waits for a copy.
/// Without the font installed no certificate can be printed at all, so nothing is checked.
fn check_printable(events: &[ResidentEvent]) -> Result<()> {
    let Ok(renderer) = crate::certificates::renderer() else {
        return Ok(());
    };
    for t in events
        .iter()
        .flat_map(ResidentEvent::texts)
        .filter(|t| t.printed)
    {
        if let Err(murakumo_documents::DocumentError::MissingGlyph { codepoint, .. }) =
            renderer.check_printable(t.field, t.value)
        {
            return Err(UseCaseError::invalid(
                t.field,
                format!(
                    "文字 U+{codepoint:04X} は証明書に印字できません(証明書のフォント IPAmj明朝 にない文字です)。外字は文字情報基盤の文字(MJ文字、必要なら異体字セレクタ付き)に同定して入力してください"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks one request's 異動 against the register as it is now — each against the person's
/// record as of the 異動日 and as last recorded, together against the household rules — and
/// returns its warnings and the ledger entries to append (with the 印鑑登録 a removal ends).
async fn checked_change(
    app: &App,
    actor: &StaffActor,
    events: &[ResidentEvent],
    effective: NaiveDate,
    new_household_id: &str,
    name_change_ends: bool,
    deadline: i64,
) -> Result<(Vec<Warning>, Vec<NewEntry>)> {
    let ts = app.tenant(&actor.tenant);
    let today = today_in_japan();
    let mut warned = Vec::new();
    let mut persons = Vec::new();
    // 再転入 (標準仕様書 §4.1.1.2): one who had left (a 除票 here under the same 住民票コード)
    // keeps the 宛名番号 given before.
    let mut numbered_before: Vec<(String, String)> = Vec::new();
    for event in events {
        let code = event.resident_code();
        let latest = ts.resident(code).await?;
        if let (ResidentEvent::Entered { .. }, Some(number)) = (
            event,
            latest.as_ref().and_then(|l| l.addressee_number.clone()),
        ) {
            numbered_before.push((code.to_string(), number));
        }
        // The gate ran before the first check; a 支援措置 set since is refused all the same.
        if latest
            .as_ref()
            .is_some_and(|l| !protection::visible(actor, l))
        {
            return Err(protection::refusal());
        }
        let at = match &latest {
            Some(_) => ts.resident_as_of(code, effective).await?,
            None => None,
        };
        for w in validate(
            event,
            at.as_ref(),
            latest.as_ref(),
            effective,
            today,
            deadline,
        )? {
            if !warned.contains(&w) {
                warned.push(w);
            }
        }
        persons.extend(at);
    }
    let mut members = persons.clone();
    for h in households_touched(events, &persons) {
        for m in household_as_of(&ts, &h, effective, today).await? {
            if !members.iter().any(|r| r.resident_code == m.resident_code) {
                members.push(m);
            }
        }
    }
    check_households(events, &members, Some(new_household_id), effective)?;
    let id = actor.id();
    // A removed resident's 印鑑登録 ends with the removal (職権抹消), in the same append.
    let registrations =
        seals::registrations_ended_by(app, &actor.tenant, events, name_change_ends).await?;
    let ended = seals::ended_by(
        events,
        name_change_ends,
        &registrations,
        &id,
        effective,
        today,
    );
    // 宛名番号: each person entered gets the next number, read in this check (so a number
    // taken by another append in between makes the append refused and checked again).
    let mut addressee = None;
    if events
        .iter()
        .any(|e| matches!(e, ResidentEvent::Entered { .. }))
    {
        addressee = ts.highest_addressee_number().await?;
    }
    let mut batch = Vec::new();
    for (event, ended) in events.iter().zip(ended) {
        let mut e = entry(&id, event);
        e.effective_date = effective;
        batch.push(e);
        if let ResidentEvent::Entered { resident_code, .. } = event {
            let number = match numbered_before.iter().find(|(c, _)| c == resident_code) {
                Some((_, before)) => before.clone(),
                None => {
                    let next = next_addressee_number(addressee.as_deref());
                    addressee = Some(next.clone());
                    next
                }
            };
            let mut e = entry(
                &id,
                &ResidentEvent::AddresseeNumberAssigned {
                    resident_code: resident_code.clone(),
                    addressee_number: number.clone(),
                },
            );
            e.effective_date = effective;
            batch.push(e);
        }
        batch.extend(ended);
    }
    Ok((warned, batch))
}

/// Records one request's 異動 (the person's and the household's follow-ups, all on one
/// 異動日): through the 支援措置 gate, checked by the domain's rules and appended with its
/// access-log records in one transaction, only if the register did not change in between
/// (else checked again). `new_household_id` is the 世帯番号 a new household in the batch
/// gets; `name_change_ends` whether a 氏名変更 in it ends the person's 印鑑登録
/// ([`seals::name_change_ends_seal`]). Returns the warnings (e.g. 届出期間経過): the 異動 was
/// recorded.
pub async fn record_change(
    app: &App,
    actor: &StaffActor,
    events: Vec<ResidentEvent>,
    effective: NaiveDate,
    new_household_id: &str,
    name_change_ends: bool,
) -> Result<Vec<Warning>> {
    if events.is_empty() {
        return Err(UseCaseError::internal("記録する異動がありません"));
    }
    let ts = app.tenant(&actor.tenant);
    // 支援措置: every person the change touches goes through the one gate.
    let touched: BTreeSet<&str> = events.iter().map(|e| e.resident_code()).collect();
    for code in touched {
        if let Some(current) = ts.resident(code).await? {
            protection::admit(app, actor, &current, AccessAction::Change).await?;
        }
    }
    check_printable(&events)?;
    let label = events
        .iter()
        .map(ResidentEvent::label_ja)
        .collect::<Vec<_>>()
        .join("・");
    let mut subjects: Vec<String> = Vec::new();
    for e in &events {
        let s = access::resident(e.resident_code());
        if !subjects.contains(&s) {
            subjects.push(s);
        }
    }
    let records = access::records(actor, AccessAction::Change, subjects, &label);
    let deadline = app
        .setting_i64(&actor.tenant, "resident.notification_deadline_days")
        .await?;
    // Checked against the register as of one ledger entry and appended only if nothing was
    // appended since (by another request or node): otherwise checked again.
    let (events, records) = (&events, &records);
    access::append_decided(&ts, actor, || async move {
        let (warned, batch) = checked_change(
            app,
            actor,
            events,
            effective,
            new_household_id,
            name_change_ends,
            deadline,
        )
        .await?;
        Ok((batch, records.clone(), warned))
    })
    .await
}

/// A 転入, 出生 or 職権記載, as the counter or an API client asks for it.
#[derive(Clone, Debug, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryRequest {
    /// 住民票コード. Leave blank for a 出生 (or a 職権記載 of someone who never had one): the
    /// next code of the municipality's range (setting `resident.code_range`) is recorded.
    #[serde(default)]
    pub resident_code: String,
    /// 世帯番号 of an existing household to join (at the same address); if
    /// omitted, a new household with the next number of the series, whose
    /// 続柄 must be 世帯主.
    pub household_id: Option<String>,
    /// 続柄 (世帯主, 妻, 子, …)
    pub relationship: String,
    pub family_name: String,
    #[serde(default)]
    pub given_name: String,
    pub family_kana: String,
    #[serde(default)]
    pub given_kana: String,
    pub romaji: Option<String>,
    /// 通称
    pub alias: Option<String>,
    pub birth_date: NaiveDate,
    /// 1 男, 2 女, 9
    pub sex_code: u8,
    /// 本籍 (Japanese nationals)
    pub honseki: Option<String>,
    /// 筆頭者 (Japanese nationals)
    pub hittosha: Option<String>,
    /// 国籍・地域 (foreign residents; omit for Japanese nationals)
    pub nationality: Option<String>,
    /// 在留資格
    pub residence_status: Option<String>,
    /// 在留期間の満了日
    pub period_until: Option<NaiveDate>,
    pub address: String,
    /// 方書
    #[serde(default)]
    pub katagaki: String,
    /// `move_in` (転入), `birth` (出生) or `ex_officio` (職権記載).
    pub reason: String,
    /// 前住所 (転入)
    pub previous_address: Option<String>,
    /// The reason of a 職権記載.
    pub ex_officio_reason: Option<String>,
    /// 異動日
    pub effective_date: NaiveDate,
    /// 届出日; today if omitted.
    pub notified_date: Option<NaiveDate>,
}

/// A 転入 without its 住民票コード.
const MOVE_IN_NEEDS_CODE: &str =
    "転入では、転出証明書(または転入通知)に記載された住民票コードを入力してください";

/// Most persons one household 転入 records.
const MAX_HOUSEHOLD_ENTRY: usize = 10;

/// Records a 転入, 出生 or 職権記載 (職権記載 needs 住民記録の監督): into the household
/// `household_id` names, or a new one with the next 世帯番号; a 出生 or 職権記載 without a
/// 住民票コード gets the next of the municipality's range. Returns the 住民票コード and the
/// warnings.
pub async fn enter(
    app: &App,
    actor: &StaffActor,
    req: EntryRequest,
) -> Result<(String, Vec<Warning>)> {
    actor.require(Permission::ResidentChange)?;
    let (reason, person) = entered_person(actor, &req)?;
    let _turn = change_turn(&actor.tenant).await;
    let next = next_household(&app.tenant(&actor.tenant)).await?;
    let household_id = req
        .household_id
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map_or_else(|| next.clone(), str::to_string);
    let resident_code = match req.resident_code.trim() {
        "" if matches!(reason, EntryReason::MoveIn { .. }) => {
            return Err(UseCaseError::invalid("resident_code", MOVE_IN_NEEDS_CODE));
        }
        "" => allot_resident_code(app, &actor.tenant).await?,
        typed => typed.to_string(),
    };
    let event = ResidentEvent::Entered {
        resident_code,
        household_id,
        relationship: req.relationship.trim().to_string(),
        person,
        address: req.address.trim().to_string(),
        katagaki: req.katagaki.trim().to_string(),
        reason,
        notified_date: req.notified_date.unwrap_or_else(today_in_japan),
    };
    let code = event.resident_code().to_string();
    let warned = record_change(app, actor, vec![event], req.effective_date, &next, false).await?;
    Ok((code, warned))
}

/// A recorded 世帯での転入.
pub struct HouseholdEntered {
    /// 世帯番号 of the new household.
    pub household_id: String,
    /// The members' 住民票コード, in the order given.
    pub resident_codes: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Records the 転入 of a whole household at once (世帯での転入), 世帯主 first: all of them
/// or none. Each member as for [`enter`] with `reason` `move_in`, the same address, 方書
/// and 異動日, and no `household_id`: they form a new 世帯 with the next 世帯番号.
pub async fn enter_household(
    app: &App,
    actor: &StaffActor,
    members: Vec<EntryRequest>,
) -> Result<HouseholdEntered> {
    actor.require(Permission::ResidentChange)?;
    let Some(first) = members.first() else {
        return Err(UseCaseError::invalid(
            "members",
            "転入する世帯員を1人以上入力してください",
        ));
    };
    if members.len() > MAX_HOUSEHOLD_ENTRY {
        return Err(UseCaseError::invalid(
            "members",
            format!(
                "一度に転入を記録できるのは{MAX_HOUSEHOLD_ENTRY}人までです。残りの方は、記録された世帯の世帯番号を指定して1人ずつ転入を記録してください"
            ),
        ));
    }
    for (i, m) in members.iter().enumerate() {
        let n = i + 1;
        let same = |a: &str, b: &str| a.trim() == b.trim();
        let refused = |field: &str, what: &str| {
            Err(UseCaseError::invalid(
                &format!("members[{i}].{field}"),
                format!("{n}人目: {what}"),
            ))
        };
        if m.reason != "move_in" {
            return refused(
                "reason",
                "世帯での転入は「転入」だけです。出生・職権記載は1人ずつ記録してください",
            );
        }
        if m.household_id
            .as_deref()
            .is_some_and(|h| !h.trim().is_empty())
        {
            return refused(
                "household_id",
                "世帯での転入は新しい世帯になります(世帯番号は自動で付きます)。既存の世帯に入る方は1人ずつ記録してください",
            );
        }
        if !same(&m.address, &first.address) || !same(&m.katagaki, &first.katagaki) {
            return refused("address", "世帯の全員が同じ住所・方書に転入します");
        }
        if m.effective_date != first.effective_date {
            return refused("effective_date", "世帯の全員が同じ異動日に転入します");
        }
    }
    let _turn = change_turn(&actor.tenant).await;
    let household_id = next_household(&app.tenant(&actor.tenant)).await?;
    let mut events = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let (reason, person) = entered_person(actor, m).map_err(|e| match e {
            UseCaseError::Invalid { field, message } => UseCaseError::invalid(
                &format!("members[{i}].{field}"),
                format!("{}人目: {message}", i + 1),
            ),
            other => other,
        })?;
        if m.resident_code.trim().is_empty() {
            return Err(UseCaseError::invalid(
                &format!("members[{i}].resident_code"),
                format!("{}人目: {MOVE_IN_NEEDS_CODE}", i + 1),
            ));
        }
        events.push(ResidentEvent::Entered {
            resident_code: m.resident_code.trim().to_string(),
            household_id: household_id.clone(),
            relationship: m.relationship.trim().to_string(),
            person,
            address: m.address.trim().to_string(),
            katagaki: m.katagaki.trim().to_string(),
            reason,
            notified_date: m.notified_date.unwrap_or_else(today_in_japan),
        });
    }
    let codes: Vec<String> = events
        .iter()
        .map(|e| e.resident_code().to_string())
        .collect();
    let warned = record_change(
        app,
        actor,
        events,
        first.effective_date,
        &household_id,
        false,
    )
    .await?;
    Ok(HouseholdEntered {
        household_id,
        resident_codes: codes,
        warnings: warned,
    })
}

/// The 記載の事由 and the person of a 転入・出生・職権記載 request.
fn entered_person(actor: &StaffActor, req: &EntryRequest) -> Result<(EntryReason, Person)> {
    let reason = match req.reason.as_str() {
        "move_in" => EntryReason::MoveIn {
            previous_address: req.previous_address.clone().unwrap_or_default(),
        },
        "birth" => EntryReason::Birth,
        "ex_officio" => {
            actor.require(Permission::ResidentSupervise)?;
            EntryReason::ExOfficio {
                reason: req.ex_officio_reason.clone().unwrap_or_default(),
            }
        }
        _ => {
            return Err(UseCaseError::invalid(
                "reason",
                "記載の事由は move_in(転入)、birth(出生)、ex_officio(職権記載)のいずれかです",
            ));
        }
    };
    let sex = Sex::from_code(req.sex_code).ok_or_else(|| {
        UseCaseError::invalid("sex_code", "性別は 1(男)、2(女)、9(その他)のいずれかです")
    })?;
    let citizenship = match req
        .nationality
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        // 在留資格 or 在留期間 given: a foreign resident whose 国籍・地域 is missing.
        None if req
            .residence_status
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
            || req.period_until.is_some() =>
        {
            return Err(UseCaseError::invalid(
                "nationality",
                "外国人住民は国籍・地域を入力してください(日本人住民なら在留資格と在留期間の満了日を空欄にしてください)",
            ));
        }
        None => Citizenship::Japanese {
            honseki: req.honseki.clone().unwrap_or_default(),
            hittosha: req.hittosha.clone().unwrap_or_default(),
        },
        Some(n) => Citizenship::Foreign {
            nationality: n.to_string(),
            residence_status: req.residence_status.clone().unwrap_or_default(),
            period_until: req.period_until,
        },
    };
    Ok((
        reason,
        Person {
            family_name: req.family_name.trim().to_string(),
            given_name: req.given_name.trim().to_string(),
            family_kana: req.family_kana.trim().to_string(),
            given_kana: req.given_kana.trim().to_string(),
            romaji: req.romaji.clone(),
            alias: req.alias.clone(),
            birth_date: req.birth_date,
            sex,
            citizenship,
        },
    ))
}

/// One 異動 of a registered resident, as the counter or an API client asks for it.
///
/// A household lives at one address and has exactly one 世帯主, so some
/// 異動 carry what the household needs in the same request: `new_head` (the
/// 住民票コード of the member who becomes 世帯主 when the 世帯主 dies, moves
/// out or leaves), `household_move` (`all`: the whole household moves;
/// `separate`: this person alone, as 世帯主 of a new household) and
/// `former_head_relationship` (the new 続柄 of the 世帯主 being replaced).
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// 転居
    Relocate {
        address: String,
        #[serde(default)]
        katagaki: String,
        /// `all` (世帯全員で転居) or `separate` (本人のみ、新しい世帯の世帯主に).
        household_move: Option<String>,
        new_head: Option<String>,
    },
    /// 転出予定
    MoveOutPlanned {
        planned_date: NaiveDate,
        destination: String,
    },
    /// 転出取消: the 転出予定 withdrawn (the person stays).
    CancelMoveOut { reason: String },
    /// 転出確定
    MoveOut {
        destination: String,
        /// The 転入日 the 転入通知 from the new municipality gives: the person is removed
        /// (消除日) on the earlier of it and the 転出予定日 (標準仕様書 §1.1.5), whatever
        /// 異動日 is sent with it.
        #[serde(default)]
        moved_in_date: Option<NaiveDate>,
        /// `all`: the whole household moves out.
        household_move: Option<String>,
        new_head: Option<String>,
    },
    /// 死亡
    Death { new_head: Option<String> },
    /// 職権消除
    ExOfficioRemoval {
        reason: String,
        new_head: Option<String>,
    },
    /// 世帯分離 / 世帯合併 / 世帯主変更
    Household {
        /// An existing household to join (or the person's own, to change the
        /// 続柄); omit for a new household (世帯分離), numbered by the system.
        household_id: Option<String>,
        relationship: String,
        new_head: Option<String>,
        former_head_relationship: Option<String>,
    },
    /// 氏名変更
    Name {
        family_name: String,
        #[serde(default)]
        given_name: String,
        family_kana: String,
        #[serde(default)]
        given_kana: String,
        /// For a person with a 印鑑登録 (印鑑登録事務 M-INKAN-17): `end` when the registered
        /// seal no longer shows the 氏名 (職権抹消 in the same append), `keep` when it still
        /// does (a seal of the 名, the 旧氏, the 通称 or the カタカナ併記名). Required then.
        #[serde(default)]
        seal: Option<String>,
    },
    /// 職権修正
    Correct {
        field: String,
        value: String,
        reason: String,
    },
    /// 旧氏の記載・変更 (on the person's 請求; Japanese residents): the 旧氏 as the 戸籍 shows
    /// it, and its フリガナ.
    FormerSurname {
        former_surname: String,
        former_surname_kana: String,
    },
    /// 旧氏の削除 (on the person's 請求).
    DeleteFormerSurname,
    /// 通称の記載・変更 (on the person's 申出; foreign residents): the 通称 and its フリガナ.
    Alias { alias: String, alias_kana: String },
    /// 通称の削除 (on the person's 申出).
    DeleteAlias,
    /// 支援措置 start, or its extension (延長) from one month before the term ends. Without
    /// `until` the term is the standard's year (murakumo_resident::protection).
    Protect {
        #[serde(default)]
        until: Option<NaiveDate>,
        reason: String,
    },
    /// 支援措置 end
    Unprotect { reason: String },
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// What a `household_move` asks for.
#[derive(PartialEq)]
enum HouseholdMove {
    Alone,
    All,
    Separate,
}

fn household_move(v: Option<String>, separate_allowed: bool) -> Result<HouseholdMove> {
    match blank_to_none(v).as_deref() {
        None => Ok(HouseholdMove::Alone),
        Some("all") => Ok(HouseholdMove::All),
        Some("separate") if separate_allowed => Ok(HouseholdMove::Separate),
        Some(_) => Err(UseCaseError::invalid(
            "household_move",
            if separate_allowed {
                "世帯の扱いは「all」(世帯全員で転居) か「separate」(本人のみ、新しい世帯の世帯主になる) を選んでください"
            } else {
                "世帯の扱いは「all」(世帯全員で転出) を選ぶか、空欄にしてください"
            },
        )),
    }
}

/// Records one 異動 of the registered resident `code` (転居, 転出予定, 転出取消, 転出, 死亡,
/// 職権消除, 世帯変更, 氏名変更, 職権修正, 支援措置) with the household's follow-up 異動 in
/// the same append: the new 世帯主 when the 世帯主 dies, moves out or leaves, the rest of
/// the household when it moves together, the replaced 世帯主's new 続柄. 職権消除, 職権修正
/// and 支援措置 need 住民記録の監督. Returns the warnings (e.g. 届出期間経過).
pub async fn change(
    app: &App,
    actor: &StaffActor,
    code: &str,
    change: Change,
    effective: NaiveDate,
    notified: NaiveDate,
) -> Result<Vec<Warning>> {
    actor.require(Permission::ResidentChange)?;
    let code = parse_code(code)?;
    let code = code.as_str();
    let supervised = matches!(
        change,
        Change::ExOfficioRemoval { .. }
            | Change::Correct { .. }
            | Change::Protect { .. }
            | Change::Unprotect { .. }
    );
    if supervised {
        actor.require(Permission::ResidentSupervise)?;
    }
    let _turn = change_turn(&actor.tenant).await;
    let ts = app.tenant(&actor.tenant);
    let effective = match &change {
        Change::MoveOut {
            moved_in_date: Some(moved_in),
            ..
        } => removal_date_of_move_out(
            ts.resident(code).await?.as_ref().map(|r| &r.status),
            *moved_in,
        ),
        _ => effective,
    };
    let next = next_household(&ts).await?;
    // The person's household on the 異動日, for the follow-up 異動.
    let own = ts.resident_as_of(code, effective).await?;
    let own_household = own.as_ref().map(|r| r.household_id.clone());
    let others = match &own_household {
        Some(h) => household_as_of(&ts, h, effective, today_in_japan())
            .await?
            .into_iter()
            .filter(|r| r.resident_code != code)
            .collect(),
        None => Vec::new(),
    };
    let mut follow_ups = Vec::new();
    let new_head_event = |new_head: Option<String>| -> Result<Option<ResidentEvent>> {
        match (blank_to_none(new_head), &own_household) {
            (Some(h), Some(household_id)) => Ok(Some(ResidentEvent::HouseholdChanged {
                resident_code: parse_code(&h).map_err(|e| e.at("new_head"))?,
                household_id: household_id.clone(),
                relationship: HEAD.into(),
                notified_date: notified,
            })),
            _ => Ok(None),
        }
    };
    // 印鑑登録事務 M-INKAN-17: a registrant's 氏名変更 ends the registration or keeps it, as
    // the clerk decides from the seal.
    let name_change_ends = match &change {
        Change::Name { seal, .. } => {
            seals::name_change_ends_seal(app, &actor.tenant, code, seal.as_deref()).await?
        }
        _ => false,
    };
    let resident_code = code.to_string();
    let event = match change {
        Change::Relocate {
            address,
            katagaki,
            household_move: how,
            new_head,
        } => {
            let address = address.trim().to_string();
            match household_move(how, true)? {
                HouseholdMove::All => {
                    for r in &others {
                        follow_ups.push(ResidentEvent::Relocated {
                            resident_code: r.resident_code.clone(),
                            address: address.clone(),
                            katagaki: katagaki.clone(),
                            notified_date: notified,
                        });
                    }
                }
                HouseholdMove::Separate => {
                    follow_ups.push(ResidentEvent::HouseholdChanged {
                        resident_code: code.to_string(),
                        household_id: next.clone(),
                        relationship: HEAD.into(),
                        notified_date: notified,
                    });
                    follow_ups.extend(new_head_event(new_head)?);
                }
                HouseholdMove::Alone => follow_ups.extend(new_head_event(new_head)?),
            }
            ResidentEvent::Relocated {
                resident_code,
                address,
                katagaki,
                notified_date: notified,
            }
        }
        Change::MoveOutPlanned {
            planned_date,
            destination,
        } => ResidentEvent::MoveOutPlanned {
            resident_code,
            planned_date,
            destination,
            notified_date: notified,
        },
        Change::MoveOut {
            destination,
            household_move: how,
            new_head,
            ..
        } => {
            if household_move(how, false)? == HouseholdMove::All {
                for r in &others {
                    follow_ups.push(ResidentEvent::Removed {
                        resident_code: r.resident_code.clone(),
                        reason: RemovalReason::MovedOut {
                            destination: destination.clone(),
                        },
                        notified_date: notified,
                    });
                }
            } else {
                follow_ups.extend(new_head_event(new_head)?);
            }
            ResidentEvent::Removed {
                resident_code,
                reason: RemovalReason::MovedOut { destination },
                notified_date: notified,
            }
        }
        Change::Death { new_head } => {
            follow_ups.extend(new_head_event(new_head)?);
            ResidentEvent::Removed {
                resident_code,
                reason: RemovalReason::Died,
                notified_date: notified,
            }
        }
        Change::ExOfficioRemoval { reason, new_head } => {
            follow_ups.extend(new_head_event(new_head)?);
            ResidentEvent::Removed {
                resident_code,
                reason: RemovalReason::ExOfficio { reason },
                notified_date: notified,
            }
        }
        Change::Household {
            household_id,
            relationship,
            new_head,
            former_head_relationship,
        } => {
            let target = blank_to_none(household_id).unwrap_or_else(|| next.clone());
            if let Some(rel) = blank_to_none(former_head_relationship) {
                let head = household_as_of(&ts, &target, effective, today_in_japan())
                    .await?
                    .into_iter()
                    .find(|r| r.relationship == HEAD && r.resident_code != code);
                let Some(head) = head else {
                    return Err(UseCaseError::invalid(
                        "former_head_relationship",
                        format!(
                            "世帯番号「{target}」の世帯には、続柄を変える世帯主がいません。この欄は空欄にしてください"
                        ),
                    ));
                };
                follow_ups.push(ResidentEvent::HouseholdChanged {
                    resident_code: head.resident_code,
                    household_id: target.clone(),
                    relationship: rel,
                    notified_date: notified,
                });
            }
            if own_household.as_deref() != Some(target.as_str()) {
                follow_ups.extend(new_head_event(new_head)?);
            }
            ResidentEvent::HouseholdChanged {
                resident_code,
                household_id: target,
                relationship: relationship.trim().to_string(),
                notified_date: notified,
            }
        }
        Change::Name {
            family_name,
            given_name,
            family_kana,
            given_kana,
            ..
        } => ResidentEvent::NameChanged {
            resident_code,
            family_name,
            given_name,
            family_kana,
            given_kana,
            notified_date: notified,
        },
        Change::Correct {
            field,
            value,
            reason,
        } => ResidentEvent::Corrected {
            resident_code,
            field,
            value,
            reason,
        },
        Change::Protect { until, reason } => ResidentEvent::ProtectionSet {
            resident_code,
            until: until.unwrap_or_else(|| {
                let in_force = own.as_ref().and_then(|r| r.protection.as_ref());
                murakumo_resident::protection::default_end(effective, in_force.map(|p| p.until))
            }),
            reason,
        },
        Change::Unprotect { reason } => ResidentEvent::ProtectionLifted {
            resident_code,
            reason,
        },
        Change::FormerSurname {
            former_surname,
            former_surname_kana,
        } => ResidentEvent::FormerSurnameSet {
            resident_code,
            former_surname: Some(FormerSurname {
                name: former_surname.trim().to_string(),
                kana: former_surname_kana.trim().to_string(),
            }),
            notified_date: notified,
        },
        Change::DeleteFormerSurname => ResidentEvent::FormerSurnameSet {
            resident_code,
            former_surname: None,
            notified_date: notified,
        },
        Change::Alias { alias, alias_kana } => ResidentEvent::AliasSet {
            resident_code,
            alias: Some(Alias {
                name: alias.trim().to_string(),
                kana: alias_kana.trim().to_string(),
            }),
            notified_date: notified,
        },
        Change::DeleteAlias => ResidentEvent::AliasSet {
            resident_code,
            alias: None,
            notified_date: notified,
        },
        Change::CancelMoveOut { reason } => ResidentEvent::MoveOutCancelled {
            resident_code,
            reason,
            notified_date: notified,
        },
    };
    let mut events = vec![event];
    events.extend(follow_ups);
    record_change(app, actor, events, effective, &next, name_change_ends).await
}

/// A 住民票コード as typed (11 digits with the check digit), or why not.
fn parse_code(code: &str) -> Result<String> {
    murakumo_core::ResidentCode::parse(code)
        .map(|c| c.as_str().to_string())
        .map_err(|e| UseCaseError::invalid("resident_code", e.message_ja()))
}

/// 標準仕様書 §1.1.5: the 消除日 of a 転出 whose 転入通知 gives `moved_in` as the 転入日 — the
/// earlier of it and the 転出予定日, if the person has one.
pub fn removal_date_of_move_out(status: Option<&Status>, moved_in: NaiveDate) -> NaiveDate {
    match status {
        Some(Status::MovingOut { planned_date, .. }) => moved_in.min(*planned_date),
        _ => moved_in,
    }
}
