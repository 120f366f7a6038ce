//! 統計: 人口・世帯数 as of a date and the 異動集計 of a month, counted from the ledger (not the
//! read model), so a past date counts the register as it then stood, 異動 entered later with
//! an earlier 異動日 included. The numbers are aggregates, but they are counted from everyone's
//! records: each count is written to the access log as an export, like other bulk reads.

use chrono::{Datelike, Days, Months, NaiveDate};
use murakumo_core::{TenantCode, today_in_japan};
use murakumo_documents::wareki;
use murakumo_ledger::EventCodec;
use murakumo_resident::ResidentEvent;
use murakumo_resident::statistics::{Movements, Population, Tally};
use murakumo_seal::statistics::SealStatistics;
use murakumo_seal_store::SealReads;
use murakumo_store::{Chain, StoreError, TenantStore};
use murakumo_tenancy::{AccessAction, Permission};

use crate::{App, Result, StaffActor, UseCaseError, access};

/// 人口・世帯数 of the actor's municipality as of `on` (not after today, Japan time).
pub async fn population(app: &App, actor: &StaffActor, on: NaiveDate) -> Result<Population> {
    actor.require(Permission::ResidentRead)?;
    let today = today_in_japan();
    if on > today {
        return Err(UseCaseError::invalid(
            "on",
            format!(
                "基準日({})はまだ来ていません。今日({})以前の日付を指定してください。",
                wareki(on),
                wareki(today)
            ),
        ));
    }
    let municipality = municipality(app, &actor.tenant).await?;
    let result = tally(&app.tenant(&actor.tenant), on, on)
        .await?
        .population(&municipality);
    access::log(
        app,
        actor,
        AccessAction::Export,
        [format!("statistics:population:{on}")],
        "人口・世帯数",
    )
    .await?;
    Ok(result)
}

/// The 異動集計 of the month that starts on `first` (not a month to come).
pub async fn movements(app: &App, actor: &StaffActor, first: NaiveDate) -> Result<Movements> {
    actor.require(Permission::ResidentRead)?;
    let last = month_last_day(first)?;
    let result = tally(&app.tenant(&actor.tenant), first, last)
        .await?
        .movements();
    access::log(
        app,
        actor,
        AccessAction::Export,
        [format!(
            "statistics:movements:{:04}-{:02}",
            first.year(),
            first.month()
        )],
        "異動集計",
    )
    .await?;
    Ok(result)
}

/// The last day of the month that starts on `first`; a month to come is refused.
fn month_last_day(first: NaiveDate) -> Result<NaiveDate> {
    if first > today_in_japan() {
        return Err(UseCaseError::invalid(
            "month",
            format!(
                "{}年{}月はまだ来ていません。今月以前の月を指定してください。",
                first.year(),
                first.month()
            ),
        ));
    }
    Ok(first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.checked_sub_days(Days::new(1)))
        .unwrap_or(first))
}

/// 都道府県 + 市区町村, e.g. 北海道深川市: how the municipality's addresses begin (the name
/// cached with the tenant's other values).
pub async fn municipality(app: &App, tenant: &TenantCode) -> Result<String> {
    let info = app.tenant_info(tenant).await?;
    Ok(format!("{}{}", tenant.prefecture().name(), info.name))
}

/// Replays the tenant's ledger up to its head as readers see it: the population as of `on`
/// and the 異動 from `from`.
async fn tally(ts: &TenantStore<'_>, from: NaiveDate, on: NaiveDate) -> Result<Tally> {
    let mut tally = Tally::new(from, on);
    let head = ts.head(Chain::Ledger).await?;
    let mut after = 0;
    while after < head.seq {
        let page = ts.read_after(Chain::Ledger, after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page.iter().take_while(|e| e.seq <= head.seq) {
            if let Some(event) =
                ResidentEvent::decode(&e.kind, e.version, &e.payload).map_err(StoreError::from)?
            {
                tally.push(&event, e.effective_date);
            }
        }
    }
    Ok(tally)
}

/// 印鑑登録の統計 (M-INKAN-22) of the month that starts on `first` (not a month to come):
/// registrations in force at its end, registered, ended by reason, and 印鑑登録証明書 issued,
/// counted from the registrations' and the certificates' dates in the read models (no walk
/// of the ledger: the statistics screen already walks it for the population). Logged as an
/// export, like the other statistics.
pub async fn seals(app: &App, actor: &StaffActor, first: NaiveDate) -> Result<SealStatistics> {
    actor.require(Permission::ResidentRead)?;
    let last = month_last_day(first)?;
    let ts = app.tenant(&actor.tenant);
    let mut stats = ts.seal_statistics(first, last).await?;
    stats.certificates = ts.certificates_issued("seal", first, last).await?;
    access::log(
        app,
        actor,
        AccessAction::Export,
        [format!(
            "statistics:seals:{:04}-{:02}",
            first.year(),
            first.month()
        )],
        "印鑑登録の統計",
    )
    .await?;
    Ok(stats)
}
