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
    if blank(&q.kana)
        && blank(&q.name)
        && blank(&q.address)
        && blank(&q.addressee_number)
        && q.birth_date.is_none()
    {
        return Err(UseCaseError::invalid(
            "kana",
            "検索条件を入力してください(カナ氏名、氏名、生年月日、住所、宛名番号のいずれか)",
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
        ("addressee_number", &q.addressee_number),
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

/// The conditions of a search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchConditions {
    pub kana: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub addressee_number: Option<String>,
}

/// One earlier search of a staff member (検索履歴): when, and its conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastSearch {
    pub searched_at: chrono::DateTime<chrono::Utc>,
    pub conditions: SearchConditions,
}

/// The keys of a search as the access log describes it (see [`search`]).
const SEARCH_KEYS: [&str; 5] = ["kana", "name", "address", "birth_date", "addressee_number"];

/// The conditions of a search as [`search`] logs them (`search:kana=ヤマ&birth_date=…`). A
/// value may itself hold `&`: a part that does not begin with a known key belongs to the
/// value before it.
fn parse_logged_search(subject: &str) -> Option<SearchConditions> {
    let described = subject.strip_prefix("search:")?;
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for part in described.split('&') {
        let key = SEARCH_KEYS.iter().find(|k| {
            part.strip_prefix(*k)
                .is_some_and(|rest| rest.starts_with('='))
        });
        match (key, pairs.last_mut()) {
            (Some(k), _) => pairs.push((k, part[k.len() + 1..].to_string())),
            (None, Some((_, value))) => {
                value.push('&');
                value.push_str(part);
            }
            (None, None) => return None,
        }
    }
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    let birth_date = match get("birth_date") {
        Some(d) => Some(NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()?),
        None => None,
    };
    Some(SearchConditions {
        kana: get("kana"),
        name: get("name"),
        address: get("address"),
        birth_date,
        addressee_number: get("addressee_number"),
    })
}

/// How many earlier searches [`search_history`] gives, and how far back (days) it looks.
pub const SEARCH_HISTORY_LEN: usize = 20;
const SEARCH_HISTORY_DAYS: i64 = 7;

/// 検索履歴 (標準仕様書 §2.1.1): the actor's own latest searches, newest first and each
/// condition set once, from the access log that records every search; to search again with
/// one. Only the actor's own: no one else's conditions are shown.
pub async fn search_history(app: &App, actor: &StaffActor) -> Result<Vec<PastSearch>> {
    actor.require(Permission::ResidentRead)?;
    let filter = murakumo_store::AccessFilter {
        actor: Some(actor.id()),
        action: Some(AccessAction::Search.code().to_string()),
        subject: None,
        // The search's own record, not those of the people it found.
        subject_prefix: Some("search:".into()),
        from: Some(chrono::Utc::now() - chrono::Duration::days(SEARCH_HISTORY_DAYS)),
        to: None,
        // Repeated conditions are shown once: read more than are shown.
        limit: 10 * SEARCH_HISTORY_LEN as u32,
    };
    let rows = app.tenant(&actor.tenant).search_access_log(&filter).await?;
    let mut out: Vec<PastSearch> = Vec::new();
    for row in rows {
        let Some(conditions) = parse_logged_search(&row.subject) else {
            continue;
        };
        if !out.iter().any(|p| p.conditions == conditions) {
            out.push(PastSearch {
                searched_at: row.recorded_at,
                conditions,
            });
        }
        if out.len() == SEARCH_HISTORY_LEN {
            break;
        }
    }
    Ok(out)
}

/// 検索結果の CSV 出力 (標準仕様書 §2.1.3/M3): the people [`search`] finds (logged as that
/// search), logged once more as an export (出力) of the same items, since the file leaves the
/// system.
pub async fn export(app: &App, actor: &StaffActor, q: &ResidentQuery) -> Result<Vec<Record>> {
    let found = search(app, actor, q).await?;
    if !found.is_empty() {
        let subjects = found.iter().map(|r| resident(&r.resident_code));
        access::log(app, actor, AccessAction::Export, subjects, SEARCH_ITEMS).await?;
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_search_is_read_back_with_its_conditions() {
        let d = NaiveDate::from_ymd_opt(1985, 4, 12).expect("date");
        assert_eq!(
            parse_logged_search("search:kana=ヤマダ&birth_date=1985-04-12"),
            Some(SearchConditions {
                kana: Some("ヤマダ".into()),
                birth_date: Some(d),
                ..SearchConditions::default()
            })
        );
        // A value holding '&' (or '=') stays whole.
        assert_eq!(
            parse_logged_search("search:name=A&B&address=北海道1条=2"),
            Some(SearchConditions {
                name: Some("A&B".into()),
                address: Some("北海道1条=2".into()),
                ..SearchConditions::default()
            })
        );
        assert_eq!(parse_logged_search("resident:12345678901"), None);
        assert_eq!(parse_logged_search("search:birth_date=S60"), None);
        assert_eq!(parse_logged_search("search:nonsense"), None);
    }
}
