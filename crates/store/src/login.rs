//! Login throttling state: one row per bucket (an account at an address, an
//! account from everywhere, an address), checked and counted in one
//! transaction so that parallel guesses cannot slip past the limit. The
//! rule itself (progressive delay) is `murakumo_auth::ThrottleRule`.
//!
//! An attempt is *reserved* before the password is checked: counted as a
//! failure up front, with each bucket's row locked while it is checked (on
//! SQLite the write transaction serializes; on PostgreSQL the upsert locks
//! the row). A successful login then takes the reservation back.

use murakumo_auth::ThrottleRule;
use sqlx::Row;

use crate::backend::Scope;
use crate::{Store, StoreError};

/// Rows not touched for this long are dropped (longer than twice the
/// longest delay a setting allows: 1,440 minutes).
const FORGET_AFTER_US: i64 = 2 * 24 * 3600 * 1_000_000;

/// One bucket of an attempt and the rule it follows.
#[derive(Clone, Debug)]
pub struct ThrottleBucket {
    pub key: String,
    pub rule: ThrottleRule,
}

/// An attempt refused before any password was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// The bucket that refused (e.g. `account:012289:clerk@127.0.0.1`).
    pub bucket: String,
    /// Until when (µs since the epoch).
    pub until: i64,
}

impl Store {
    /// Reserves one attempt in every bucket, all or none: refused (and
    /// nothing counted) if any bucket asks the caller to wait.
    pub async fn login_reserve(
        &self,
        buckets: &[ThrottleBucket],
        now: i64,
    ) -> Result<Result<(), Throttled>, StoreError> {
        let mut sorted: Vec<&ThrottleBucket> = buckets.iter().collect();
        // One lock order for every caller: no deadlocks between attempts.
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        sorted.dedup_by(|a, b| a.key == b.key);
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query("DELETE FROM login_throttle WHERE last_failure < $1")
            .bind(now - FORGET_AFTER_US)
            .execute(&mut *tx)
            .await?;
        for b in sorted {
            // Creates the row or locks the existing one; returns its state.
            let row = sqlx::query(
                "INSERT INTO login_throttle (bucket, failures, last_failure) VALUES ($1, 0, 0) \
                 ON CONFLICT (bucket) DO UPDATE SET failures = login_throttle.failures \
                 RETURNING failures, last_failure",
            )
            .bind(b.key.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let failures: i64 = row.try_get("failures")?;
            let last: i64 = row.try_get("last_failure")?;
            let failures = b
                .rule
                .current(u32::try_from(failures).unwrap_or(u32::MAX), last, now);
            if let Some(until) = b.rule.next_attempt_at(failures, last)
                && now < until
            {
                tx.rollback().await?;
                return Ok(Err(Throttled {
                    bucket: b.key.clone(),
                    until,
                }));
            }
            sqlx::query(
                "UPDATE login_throttle SET failures = $2, last_failure = $3 WHERE bucket = $1",
            )
            .bind(b.key.as_str())
            .bind(i64::from(failures.saturating_add(1)))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// After a successful login: `reset` buckets forget their failures (the
    /// account's), `release` buckets take back this attempt's reservation
    /// only (the address's: one good password must not wipe out the
    /// failures of others tried from there).
    pub async fn login_succeeded(
        &self,
        reset: &[String],
        release: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        for key in reset {
            sqlx::query("DELETE FROM login_throttle WHERE bucket = $1")
                .bind(key.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for key in release {
            sqlx::query(
                "UPDATE login_throttle SET failures = failures - 1 WHERE bucket = $1 AND failures > 0",
            )
            .bind(key.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
