//! Per-tenant quotas, so that tenants never wait on each other: a staff request rate
//! (`platform.requests_per_second`) and a number of batch operations at once
//! (`platform.concurrent_batches`), both per-tenant settings (標準 → 県版 → 個別) that only the
//! platform operator sets.
//!
//! The limits are kept **in memory, per node**: with several nodes behind a proxy each node
//! admits up to the quota, so a tenant gets at most nodes × quota in all. That is deliberate —
//! a shared counter would put a database round trip (and a hot row every tenant contends on)
//! in front of every request, which is the very waiting this module is there to prevent. A
//! restart forgets the counts.
//!
//! Only authenticated staff requests are counted, after their session is found: the tenant is
//! one that exists, never a code an anonymous client put in a header, so a stranger cannot
//! spend a municipality's quota. Operators and public routes are not limited here (the login
//! throttle and the verification queue guard those).
//!
//! What this does not do: the `murakumo import`/`export` commands run in their own process
//! against the database and are not counted by a node; see `docs/design/tenant-isolation.md`
//! for what they cost the other tenants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use murakumo_core::TenantCode;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a client is told to wait when all of its tenant's batch places are taken.
const BATCH_RETRY_SECS: u64 = 30;

fn setting_u32(v: i64) -> u32 {
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}

/// Counts an authenticated staff request of `tenant` against its `platform.requests_per_second`;
/// over it, a 429 with `Retry-After` and what to do.
pub async fn admit_staff_request(state: &AppState, tenant: &TenantCode) -> ApiResult<()> {
    let per_second = setting_u32(
        state
            .setting_i64(tenant, "platform.requests_per_second")
            .await?,
    );
    let Err(wait) = state.quotas.admit(tenant, per_second, Instant::now()) else {
        return Ok(());
    };
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    metrics::counter!("murakumo_quota_refused_total", "tenant" => state.tenant_label(tenant), "quota" => "requests").increment(1);
    tracing::warn!(%tenant, per_second, wait_s = secs, "request rate quota exceeded");
    Err(ApiError::too_many(
        format!(
            "この団体からの要求が多すぎるため、受け付けませんでした(上限は1秒あたり{per_second}件です。\
             基盤を共用する他の団体の処理を遅らせないための上限です)。変更は行われていません。\
             {secs}秒後にもう一度お試しください。続く場合は、連続して送信している処理(一括の照会や外部システムの連携)を止めるか、\
             基盤運用者に上限(platform.requests_per_second)の見直しを依頼してください"
        ),
        secs,
    ))
}

/// A place for one batch operation (台帳の検証・再構築) of `tenant` within its
/// `platform.concurrent_batches`; hold it while the operation runs. When all are taken, a 429.
pub async fn start_batch(state: &AppState, tenant: &TenantCode) -> ApiResult<BatchPermit> {
    let limit = setting_u32(
        state
            .setting_i64(tenant, "platform.concurrent_batches")
            .await?,
    );
    state.quotas.start_batch(tenant, limit).ok_or_else(|| {
        metrics::counter!("murakumo_quota_refused_total", "tenant" => state.tenant_label(tenant), "quota" => "batches").increment(1);
        tracing::warn!(%tenant, limit, "concurrent batch quota exceeded");
        ApiError::too_many(
            format!(
                "この団体の一括処理(台帳の検証・再構築)が既に{limit}件実行中のため、開始しませんでした(同時に実行できる数の上限です)。\
                 実行中の処理が終わってから、もう一度実行してください({BATCH_RETRY_SECS}秒ほど後)"
            ),
            BATCH_RETRY_SECS,
        )
    })
}

/// A tenant may spend this many seconds' worth of its rate at once (a burst).
pub const BURST_SECONDS: f64 = 2.0;

/// Every tenant's request bucket and running batch operations on this node.
#[derive(Default)]
pub struct TenantQuotas {
    buckets: Mutex<HashMap<TenantCode, Bucket>>,
    batches: Arc<Mutex<HashMap<TenantCode, u32>>>,
}

/// A token bucket: `tokens` refill at the tenant's rate up to [`BURST_SECONDS`] of it.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A batch operation of one tenant is running while this lives.
#[must_use = "the batch counts as running only while the permit is held"]
pub struct BatchPermit {
    tenant: TenantCode,
    batches: Arc<Mutex<HashMap<TenantCode, u32>>>,
}

impl Drop for BatchPermit {
    fn drop(&mut self) {
        let mut running = lock(&self.batches);
        if let Some(n) = running.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves usable counts.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TenantQuotas {
    /// Counts one request of `tenant` at `now` against `per_second`; `Err` with how long to
    /// wait before the next one would be admitted.
    pub fn admit(
        &self,
        tenant: &TenantCode,
        per_second: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        let rate = f64::from(per_second.max(1));
        let capacity = rate * BURST_SECONDS;
        let mut buckets = lock(&self.buckets);
        let b = buckets.entry(*tenant).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }

    /// A permit for one more batch operation of `tenant`, or `None` while `limit` of them run.
    pub fn start_batch(&self, tenant: &TenantCode, limit: u32) -> Option<BatchPermit> {
        let mut running = lock(&self.batches);
        let n = running.entry(*tenant).or_insert(0);
        if *n >= limit.max(1) {
            return None;
        }
        *n += 1;
        Some(BatchPermit {
            tenant: *tenant,
            batches: self.batches.clone(),
        })
    }

    /// Batch operations of `tenant` running now.
    pub fn running_batches(&self, tenant: &TenantCode) -> u32 {
        lock(&self.batches).get(tenant).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> TenantCode {
        TenantCode::from_five_digits("01228").expect("valid")
    }
    fn b() -> TenantCode {
        TenantCode::from_five_digits("01436").expect("valid")
    }

    #[test]
    fn a_tenant_over_its_rate_waits_and_another_does_not() {
        let q = TenantQuotas::default();
        let t0 = Instant::now();
        // A burst of two seconds' worth, then refused with the wait for the next token.
        for _ in 0..10 {
            assert_eq!(q.admit(&a(), 5, t0), Ok(()));
        }
        let wait = q.admit(&a(), 5, t0).expect_err("over the rate");
        assert_eq!(wait, Duration::from_millis(200));
        // The other tenant's bucket is its own.
        for _ in 0..10 {
            assert_eq!(q.admit(&b(), 5, t0), Ok(()));
        }
        // Tokens come back at the rate, never above the burst.
        assert_eq!(q.admit(&a(), 5, t0 + Duration::from_millis(200)), Ok(()));
        assert!(q.admit(&a(), 5, t0 + Duration::from_millis(200)).is_err());
        let later = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(q.admit(&a(), 5, later), Ok(()));
        }
        assert!(q.admit(&a(), 5, later).is_err(), "the burst is capped");
    }

    #[test]
    fn batches_are_limited_per_tenant_and_released_on_drop() {
        let q = TenantQuotas::default();
        let first = q.start_batch(&a(), 2).expect("first");
        let second = q.start_batch(&a(), 2).expect("second");
        assert!(q.start_batch(&a(), 2).is_none(), "a third waits");
        let other = q
            .start_batch(&b(), 2)
            .expect("another tenant is not held up");
        assert_eq!((q.running_batches(&a()), q.running_batches(&b())), (2, 1));
        drop(first);
        let third = q
            .start_batch(&a(), 2)
            .expect("a finished batch frees its place");
        assert!(
            q.start_batch(&a(), 1).is_none(),
            "a lowered limit applies at once"
        );
        drop((second, third, other));
        assert_eq!((q.running_batches(&a()), q.running_batches(&b())), (0, 0));
    }
}
