//! 照会: reading the register. Every read of a resident — a search, one record now or as of
//! a date, its 異動履歴, a household — is one function here that the API and the staff
//! screens call: the permission, the 支援措置 gate ([`protection`]) and the access-log records
//! (which person, which items) are decided here, once, before anything is returned.

use chrono::NaiveDate;
use murakumo_ledger::Entry;
use murakumo_resident::{Record, ResidentEvent};
use murakumo_resident_store::{ResidentQuery, ResidentReads};
use murakumo_tenancy::{AccessAction, Permission};

use crate::access::{self, resident};
use crate::{App, Result, StaffActor, UseCaseError, protection};

/// The items a search result shows, as the access log names them.
pub const SEARCH_ITEMS: &str =
    "resident_code,status,name,kana,birth_date,sex_code,address,katagaki,household_head";

/// Searches residents (conditions combine with AND; at least one is needed). People under
/// 支援措置 are left out for staff without the right, without shortening the list. The
/// search is logged with every person found ([`SEARCH_ITEMS`]), and each unmasking.
pub async fn search(app: &App, actor: &StaffActor, q: &ResidentQuery) -> Result<Vec<Record>> {
    actor.require(Permission::ResidentRead)?;
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
    if blank(&q.kana) && blank(&q.name) && blank(&q.address) && q.birth_date.is_none() {
        return Err(UseCaseError::invalid(
            "kana",
            "検索条件を入力してください(カナ氏名、氏名、生年月日、住所のいずれか)",
        ));
    }
    let found = app
        .tenant(&actor.tenant)
        .search_residents_where(q, |r| protection::visible(actor, r))
        .await?;
    let described = [
        ("kana", &q.kana),
        ("name", &q.name),
        ("address", &q.address),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .chain(q.birth_date.map(|d| format!("birth_date={d}")))
    .collect::<Vec<_>>()
    .join("&");
    let subjects = std::iter::once(format!("search:{described}"))
        .chain(found.iter().map(|r| resident(&r.resident_code)));
    access::log(app, actor, AccessAction::Search, subjects, SEARCH_ITEMS).await?;
    protection::log_unmasked(app, actor, &found).await?;
    Ok(found)
}

/// The items of the 閲覧用の写し, as the access log names them (住基法 第11条: 氏名・生年月日・
/// 性別・住所).
pub const INSPECTION_ITEMS: &str = "inspection:name,birth_date,sex_code,address";

/// The most people one 閲覧用の写し lists; a larger area is asked in parts (by 町字).
pub const INSPECTION_MAX: u32 = 10_000;

/// 住民基本台帳の一部の写し (住基法 第11条・第11条の2): the current residents at an address
/// given from its 都道府県 (e.g. a 町字), in address order, for 閲覧. A person under 支援措置
/// is never in it, whoever asks, a supervisor too (標準仕様書 §3.4/M2). Logged as a read of
/// each person listed, of the four items ([`INSPECTION_ITEMS`]).
pub async fn inspection_copy(
    app: &App,
    actor: &StaffActor,
    address_prefix: &str,
) -> Result<Vec<Record>> {
    actor.require(Permission::ResidentRead)?;
    let prefix = address_prefix.trim();
    if murakumo_core::Prefecture::starting(prefix).is_none() {
        return Err(UseCaseError::invalid(
            "address",
            "閲覧用の写しの範囲は、住所を都道府県から入力してください(例: 北海道深川市1条)",
        ));
    }
    let today = protection::today();
    let mut listed = app
        .tenant(&actor.tenant)
        .residents_at(prefix, INSPECTION_MAX + 1)
        .await?;
    if listed.len() > INSPECTION_MAX as usize {
        return Err(UseCaseError::invalid(
            "address",
            format!(
                "この範囲の住民は{INSPECTION_MAX}人を超えます。町字などで範囲を絞り、分けて作成してください"
            ),
        ));
    }
    listed.retain(|r| !r.protected_on(today));
    if !listed.is_empty() {
        let subjects = listed.iter().map(|r| resident(&r.resident_code));
        access::log(app, actor, AccessAction::Read, subjects, INSPECTION_ITEMS).await?;
    }
    Ok(listed)
}

/// How many residents are registered (no personal data).
pub async fn count(app: &App, actor: &StaffActor) -> Result<u64> {
    actor.require(Permission::ResidentRead)?;
    Ok(app.tenant(&actor.tenant).count_residents().await?)
}

/// The record the actor may see, now or as of `as_of`, through the gate (not yet logged as
/// read: the caller logs what it discloses).
async fn admitted(
    app: &App,
    actor: &StaffActor,
    code: &str,
    as_of: Option<NaiveDate>,
) -> Result<Record> {
    actor.require(Permission::ResidentRead)?;
    let ts = app.tenant(&actor.tenant);
    let current = ts.resident(code).await?.ok_or_else(|| {
        UseCaseError::not_found(
            "この住民票コードの方は、この団体の住民記録にありません。住民票コードを確認してください",
        )
    })?;
    protection::admit(app, actor, &current, AccessAction::Read).await?;
    match as_of {
        Some(d) if d != murakumo_core::today_in_japan() => {
            ts.resident_as_of(code, d).await?.ok_or_else(|| {
                UseCaseError::not_found(format!(
                    "この方は {} 時点でまだ住民記録にありません。基準日を確認してください",
                    murakumo_documents::wareki(d)
                ))
            })
        }
        _ => Ok(current),
    }
}

/// One resident's whole record, now or as it stood on `as_of`; logged as a read of all
/// items.
pub async fn read(
    app: &App,
    actor: &StaffActor,
    code: &str,
    as_of: Option<NaiveDate>,
) -> Result<Record> {
    let record = admitted(app, actor, code, as_of).await?;
    access::log(app, actor, AccessAction::Read, [resident(code)], "all").await?;
    Ok(record)
}

/// 異動履歴: every event of one resident, oldest first; logged as a read of the history. The
/// 付番 of the 宛名番号 is part of the entry it comes with, not a 異動 of its own: not listed.
pub async fn history(
    app: &App,
    actor: &StaffActor,
    code: &str,
) -> Result<Vec<(Entry, ResidentEvent)>> {
    admitted(app, actor, code, None).await?;
    let mut events = app.tenant(&actor.tenant).resident_events(code).await?;
    events.retain(|(_, e)| !matches!(e, ResidentEvent::AddresseeNumberAssigned { .. }));
    access::log(app, actor, AccessAction::Read, [resident(code)], "history").await?;
    Ok(events)
}

/// The current members of a household, head first, and with `include_removed` then the
/// members removed from the register while in it (their 除票). Members under 支援措置 are
/// left out for staff without the right; a household with no one left to show is not found.
/// Logged as a read of each member shown.
pub async fn household(
    app: &App,
    actor: &StaffActor,
    household_id: &str,
    include_removed: bool,
) -> Result<Vec<Record>> {
    actor.require(Permission::ResidentRead)?;
    let ts = app.tenant(&actor.tenant);
    let mut members = ts.household(household_id).await?;
    // 標準仕様書 §3.3: the household screen shows the members removed from it too.
    if include_removed {
        members.extend(ts.removed_household_members(household_id).await?);
    }
    let members: Vec<Record> = members
        .into_iter()
        .filter(|r| protection::visible(actor, r))
        .collect();
    if members.is_empty() {
        return Err(UseCaseError::not_found(
            "この世帯番号の世帯は、この団体の現在の住民記録にありません。世帯番号を確認してください",
        ));
    }
    let subjects = members.iter().map(|r| resident(&r.resident_code));
    access::log(app, actor, AccessAction::Read, subjects, "household").await?;
    protection::log_unmasked(app, actor, &members).await?;
    Ok(members)
}
