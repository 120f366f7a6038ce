//! Shared state of a running server.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_store::{Store, StoreError};
use murakumo_tenancy::SettingDef;
use murakumo_tenancy::settings::{self, ResolvedSetting};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Whether cookies must be `Secure` (served over HTTPS).
    pub tls: bool,
    /// How browsers reach this platform (`--public-url`), e.g.
    /// `https://cloud.example.lg.jp`: the SAML SP entity id and endpoints
    /// derive from it, never from a request's Host header.
    pub public_url: Option<String>,
    /// Follower acknowledgements, synchronous mode, and (on a follower)
    /// whether the primary is reachable.
    pub replication: murakumo_replication::ReplicationRuntime,
    /// What every certificate reads and that rarely changes, per tenant.
    pub cache: Arc<TenantCaches>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Arc<str>>,
    /// Each tenant's request rate and running batch operations on this node.
    pub quotas: Arc<crate::quota::TenantQuotas>,
}

/// How long this node trusts a cached per-tenant value. A change made
/// through this node takes effect at once (its handler forgets the tenant);
/// one made on another node (or arriving by replication) within this time.
pub const TENANT_CACHE_TTL: Duration = Duration::from_secs(5);

/// Per-tenant values read by every certificate issuance: resolved
/// settings (市区町村長の職氏名 among them), the tenant's name, its 公印 and
/// its signing key. Reading them for each certificate was seven database
/// transactions out of fifteen.
#[derive(Default)]
pub struct TenantCaches {
    pub settings: TenantCache<Arc<Vec<ResolvedSetting>>>,
    pub info: TenantCache<murakumo_store::TenantInfo>,
    pub official_seal: TenantCache<Option<Arc<Vec<u8>>>>,
    /// The active signing key's secret.
    pub signing_key: TenantCache<Option<[u8; 32]>>,
}

/// One value per tenant, kept for [`TENANT_CACHE_TTL`].
pub struct TenantCache<V> {
    slots: Mutex<HashMap<TenantCode, (Instant, V)>>,
    /// Bumped by every `forget`: a load that started before it must not
    /// store what it read (it may predate the change).
    generation: AtomicU64,
}

impl<V> Default for TenantCache<V> {
    fn default() -> Self {
        TenantCache {
            slots: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }
}

impl<V: Clone> TenantCache<V> {
    /// The cached value if fresh, else `load`'s (then cached).
    pub async fn get_or_load<E, F: Future<Output = Result<V, E>>>(
        &self,
        tenant: &TenantCode,
        load: impl FnOnce() -> F,
    ) -> Result<V, E> {
        if let Some((at, v)) = self.lock().get(tenant)
            && at.elapsed() < TENANT_CACHE_TTL
        {
            return Ok(v.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let v = load().await?;
        let mut slots = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            slots.insert(*tenant, (Instant::now(), v.clone()));
        }
        Ok(v)
    }

    /// Forgets `tenant`'s value, or every tenant's (`None`).
    pub fn forget(&self, tenant: Option<&TenantCode>) {
        let mut slots = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        match tenant {
            Some(t) => {
                slots.remove(t);
            }
            None => slots.clear(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantCode, (Instant, V)>> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AppState {
    pub fn new(store: Store, tls: bool) -> AppState {
        AppState {
            store,
            tls,
            public_url: None,
            replication: Default::default(),
            cache: Arc::default(),
            metrics_token: None,
            quotas: Arc::default(),
        }
    }

    /// How `tenant` is named in metrics labels: its 団体コード when `/metrics` answers only the
    /// metrics token, else [`crate::observe::STAFF`] — an open `/metrics` must not tell
    /// strangers which municipalities use the platform (the login form keeps that secret too).
    pub fn tenant_label(&self, tenant: &TenantCode) -> String {
        if self.metrics_token.is_some() {
            tenant.to_string()
        } else {
            crate::observe::STAFF.to_string()
        }
    }

    /// The platform as a SAML service provider.
    pub fn sp(&self) -> murakumo_saml::SpConfig {
        let scheme = if self.tls { "https" } else { "http" };
        murakumo_saml::SpConfig::from_base_url(
            self.public_url
                .as_deref()
                .unwrap_or(&format!("{scheme}://127.0.0.1")),
        )
    }

    /// Every setting of a tenant, resolved 個別 → 県版 → 標準 (cached for
    /// [`TENANT_CACHE_TTL`]).
    pub async fn settings(
        &self,
        tenant: &TenantCode,
    ) -> Result<Arc<Vec<ResolvedSetting>>, StoreError> {
        self.cache
            .settings
            .get_or_load(tenant, || async {
                self.resolve_settings(tenant).await.map(Arc::new)
            })
            .await
    }

    /// The tenant's registry entry (cached for [`TENANT_CACHE_TTL`]).
    pub async fn tenant_info(
        &self,
        tenant: &TenantCode,
    ) -> Result<murakumo_store::TenantInfo, StoreError> {
        self.cache
            .info
            .get_or_load(tenant, || self.store.tenant_info(tenant))
            .await
    }

    /// The tenant's 公印 image (cached for [`TENANT_CACHE_TTL`]).
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

    async fn resolve_settings(
        &self,
        tenant: &TenantCode,
    ) -> Result<Vec<ResolvedSetting>, StoreError> {
        self.settings_on(tenant, murakumo_core::today_in_japan())
            .await
    }

    /// Every setting of a tenant as in force on `date` (not cached).
    pub async fn settings_on(
        &self,
        tenant: &TenantCode,
        date: chrono::NaiveDate,
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

    /// One integer setting of a tenant, resolved; the standard value if the
    /// stored one is somehow unreadable.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn tenant() -> TenantCode {
        TenantCode::parse("012289").expect("valid code")
    }

    #[tokio::test]
    async fn cached_until_forgotten() {
        let cache = TenantCache::<usize>::default();
        let loads = AtomicUsize::new(0);
        let load = || async { Ok::<_, ()>(loads.fetch_add(1, Ordering::SeqCst)) };
        assert_eq!(cache.get_or_load(&tenant(), load).await, Ok(0));
        assert_eq!(cache.get_or_load(&tenant(), load).await, Ok(0), "cached");
        cache.forget(Some(&tenant()));
        assert_eq!(cache.get_or_load(&tenant(), load).await, Ok(1), "reloaded");
        cache.forget(None);
        assert_eq!(cache.get_or_load(&tenant(), load).await, Ok(2), "reloaded");
    }

    #[tokio::test]
    async fn a_load_overtaken_by_a_change_is_not_kept() {
        let cache = TenantCache::<&str>::default();
        let stale = cache
            .get_or_load(&tenant(), || async {
                // The value changes (and is forgotten) while this load runs.
                cache.forget(Some(&tenant()));
                Ok::<_, ()>("before the change")
            })
            .await;
        assert_eq!(stale, Ok("before the change"));
        let next = cache
            .get_or_load(&tenant(), || async { Ok::<_, ()>("after") })
            .await;
        assert_eq!(next, Ok("after"), "the overtaken load was not cached");
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = TenantCache::<u8>::default();
        assert_eq!(
            cache.get_or_load(&tenant(), || async { Err("down") }).await,
            Err("down")
        );
        assert_eq!(
            cache
                .get_or_load(&tenant(), || async { Ok::<_, &str>(7) })
                .await,
            Ok(7)
        );
    }
}
