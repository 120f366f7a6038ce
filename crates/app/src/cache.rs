//! Per-tenant values every certificate reads, kept a few seconds on this node.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;
use murakumo_tenancy::settings::ResolvedSetting;

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
