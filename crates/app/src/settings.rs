//! Settings: what is in force for a municipality on a date (標準 → 県版 → 個別, see
//! `murakumo_tenancy::settings`), and changing them — a municipality's own (個別) value
//! from its 適用開始日, or a prefecture's (県版) value for all its municipalities.

use murakumo_seal_store::SealReads;
use std::sync::Arc;

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_store::StoreError;
use murakumo_tenancy::TenancyEvent;
use murakumo_tenancy::settings::{self, ResolvedSetting, SetBy, SettingDef};

use crate::{Actor, App, Result, UseCaseError};

impl App {
    /// Every setting of a tenant as in force today, resolved 個別 → 県版 → 標準 (cached for
    /// [`crate::TENANT_CACHE_TTL`]).
    pub async fn settings(
        &self,
        tenant: &TenantCode,
    ) -> Result<Arc<Vec<ResolvedSetting>>, StoreError> {
        self.cache
            .settings
            .get_or_load(tenant, || async {
                self.settings_on(tenant, murakumo_core::today_in_japan())
                    .await
                    .map(Arc::new)
            })
            .await
    }

    /// Every setting of a tenant as in force on `date` (not cached).
    pub async fn settings_on(
        &self,
        tenant: &TenantCode,
        date: NaiveDate,
    ) -> Result<Vec<ResolvedSetting>, StoreError> {
        let pref = self
            .store
            .prefecture_settings(&format!("{:02}", tenant.prefecture().code()))
            .await?;
        let muni = self
            .store
            .tenant(tenant)
            .municipal_settings_on(date)
            .await?;
        let lookup = |list: &[(String, String)], k: &str| {
            list.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Ok(settings::REGISTRY
            .iter()
            .map(|d: &'static SettingDef| {
                settings::resolve(
                    d,
                    lookup(&pref, d.key).as_deref(),
                    lookup(&muni, d.key).as_deref(),
                    date,
                )
            })
            .collect())
    }

    /// One integer setting of a tenant, resolved; the standard value if the stored one is
    /// somehow unreadable.
    pub async fn setting_i64(&self, tenant: &TenantCode, key: &str) -> Result<i64, StoreError> {
        let all = self.settings(tenant).await?;
        let standard = || {
            settings::find(key)
                .ok()
                .and_then(|d| d.standard)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        Ok(all
            .iter()
            .find(|r| r.key == key)
            .and_then(|r| r.value.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(standard))
    }

    /// The tenant's registry entry (cached for [`crate::TENANT_CACHE_TTL`]).
    pub async fn tenant_info(
        &self,
        tenant: &TenantCode,
    ) -> Result<murakumo_store::TenantInfo, StoreError> {
        self.cache
            .info
            .get_or_load(tenant, || self.store.tenant_info(tenant))
            .await
    }

    /// The tenant's 公印 image (cached for [`crate::TENANT_CACHE_TTL`]).
    pub async fn official_seal(
        &self,
        tenant: &TenantCode,
    ) -> Result<Option<Arc<Vec<u8>>>, StoreError> {
        self.cache
            .official_seal
            .get_or_load(tenant, || async {
                Ok(self
                    .store
                    .tenant(tenant)
                    .official_seal()
                    .await?
                    .map(Arc::new))
            })
            .await
    }
}

/// A setting's definition, or `Invalid` on `key`.
pub fn definition(key: &str) -> Result<&'static SettingDef> {
    settings::find(key).map_err(|e| UseCaseError::invalid("key", e.to_string()))
}

/// `value` checked against its definition (`None` clears the value).
fn checked(def: &SettingDef, value: Option<&str>) -> Result<Option<String>> {
    value
        .map(|v| def.validate(v))
        .transpose()
        .map_err(|e| UseCaseError::invalid("value", e.to_string()))
}

/// A change of a municipality's own (個別) value.
pub struct MunicipalChange<'a> {
    pub key: &'a str,
    /// `None` clears the value (the 県版 or 標準 applies again).
    pub value: Option<&'a str>,
    pub reason: &'a str,
    /// 適用開始日: in force from this date until a later value; today if `None`.
    pub effective_from: Option<NaiveDate>,
}

/// Sets or clears a municipality's own value. A setting the platform sets
/// (`SetBy::Platform`, the quotas shared tenants rely on) is refused to the municipality's
/// staff; the operator and the command line may set any.
pub async fn set_municipal(
    app: &App,
    actor: &Actor,
    tenant: &TenantCode,
    change: MunicipalChange<'_>,
) -> Result<()> {
    let def = definition(change.key)?;
    if matches!(actor, Actor::Staff(_)) && def.set_by == SetBy::Platform {
        return Err(UseCaseError::forbidden(format!(
            "「{}」は基盤運用者が設定する項目のため、団体では変更できません(基盤を共用する他の団体を守るための上限です)。変更が必要な場合は基盤運用者に依頼してください",
            def.label_ja
        )));
    }
    let value = checked(def, change.value)?;
    if !matches!(actor, Actor::Staff(_)) {
        // Staff act on their own municipality, which exists; others name one.
        app.store.tenant_info(tenant).await?;
    }
    let event = TenancyEvent::SettingChanged {
        key: def.key.to_string(),
        value,
        reason: change.reason.trim().to_string(),
    };
    // The entry's effective date is the value's 適用開始日.
    let mut e = crate::entry(&actor.id(), &event);
    if let Some(from) = change.effective_from {
        e.effective_date = from;
    }
    app.tenant(tenant).append(vec![e]).await?;
    app.cache.settings.forget(Some(tenant));
    metrics::counter!("murakumo_ledger_entries_appended_total").increment(1);
    Ok(())
}

/// Sets or clears a 県版 value for every municipality of `prefecture` (two digits). 県版
/// values are not dated: they apply from now on.
pub async fn set_prefecture(
    app: &App,
    actor: &Actor,
    prefecture: &str,
    key: &str,
    value: Option<&str>,
) -> Result<()> {
    let def = definition(key)?;
    let value = checked(def, value)?;
    app.store
        .set_prefecture_setting(prefecture, def.key, value.as_deref(), &actor.id())
        .await?;
    // Every municipality of the prefecture resolves through it.
    app.cache.settings.forget(None);
    Ok(())
}
