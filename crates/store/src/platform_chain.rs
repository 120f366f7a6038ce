//! The platform's own chain ([`LedgerOwner::Platform`]): its operators (運用者) and the 県版
//! settings are ledger entries, and the tables `operators`, `prefecture_settings` and
//! `prefecture_setting_history` are their read models (docs/design/platform-chain.md).
//!
//! Invariants, as for a tenant's chain: an entry and its projection commit in one
//! transaction, the head row is locked first, and the read models can be dropped and rebuilt
//! from the chain at any time ([`PlatformChain::rebuild`]).

use std::collections::BTreeMap;

use murakumo_ledger::{ChainHead, Entry, EventCodec, LedgerOwner, NewEntry, RecordedAt, Segment};
use murakumo_tenancy::PlatformEvent;
use sqlx::{Any, Row, Transaction};

use crate::backend::Scope;
use crate::rows::Chain;
use crate::shipping::insert_segment;
use crate::tenant::{append_in, ledger_page_in, lock_head, read_head, verify_pages};
use crate::{Applied, Store, StoreError};

const OWNER: LedgerOwner = LedgerOwner::Platform;
/// Entries read per query when the platform's chain is read or replayed.
const PAGE: u64 = 10_000;

/// A handle on the platform's chain.
pub struct PlatformChain<'a> {
    store: &'a Store,
}

impl Store {
    pub fn platform_chain(&self) -> PlatformChain<'_> {
        PlatformChain { store: self }
    }

    /// Appends `events` by `actor` to the platform's chain and projects them, in one
    /// transaction: a refusal of the projection (a login taken) appends nothing.
    pub(crate) async fn append_platform(
        &self,
        actor: &str,
        events: &[PlatformEvent],
    ) -> Result<Vec<Entry>, StoreError> {
        let chain = self.platform_chain();
        let mut tx = chain.begin(true).await?;
        let news = events.iter().map(|e| new_entry(e, actor)).collect();
        let sealed = append_in(&mut tx, OWNER, Chain::Ledger, news).await?;
        project(&mut tx, &sealed).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    /// At the first start of a version with the platform chain, appends what the platform
    /// tables already hold (each operator, each 県版 change of the history with its actor and
    /// time, oldest first), so that the chain explains every row. Nothing happens once the
    /// chain has an entry.
    pub(crate) async fn adopt_platform_rows(&self) -> Result<(), StoreError> {
        let chain = self.platform_chain();
        let mut tx = chain.begin(true).await?;
        // Locked: two nodes starting together adopt once.
        let head = lock_head(&mut tx, OWNER, Chain::Ledger).await?;
        if head.seq > 0 {
            return Ok(());
        }
        let mut news = Vec::new();
        let operators = sqlx::query(
            "SELECT operator_id, login, display_name, password_hash, created_at FROM operators \
             ORDER BY created_at, operator_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        for r in &operators {
            let event = PlatformEvent::OperatorCreated {
                operator_id: r.try_get("operator_id")?,
                login: r.try_get("login")?,
                display_name: r.try_get("display_name")?,
                password_hash: r.try_get("password_hash")?,
                adopted_at: Some(r.try_get("created_at")?),
            };
            news.push(new_entry(&event, "system:adoption"));
        }
        let history = sqlx::query(
            "SELECT prefecture_code, key, value, actor, recorded_at FROM prefecture_setting_history \
             ORDER BY recorded_at",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut replayed = BTreeMap::new();
        for r in &history {
            let (prefecture, key): (String, String) =
                (r.try_get("prefecture_code")?, r.try_get("key")?);
            let value: Option<String> = r.try_get("value")?;
            replayed.insert((prefecture.clone(), key.clone()), value.clone());
            let event = PlatformEvent::PrefectureSettingChanged {
                prefecture,
                key,
                value,
                adopted_at: Some(r.try_get("recorded_at")?),
            };
            let actor: String = r.try_get("actor")?;
            news.push(new_entry(&event, &actor));
        }
        // A value without history (none is written so, but the chain must explain every row).
        let current = sqlx::query("SELECT prefecture_code, key, value FROM prefecture_settings")
            .fetch_all(&mut *tx)
            .await?;
        for r in &current {
            let (prefecture, key, value): (String, String, String) = (
                r.try_get("prefecture_code")?,
                r.try_get("key")?,
                r.try_get("value")?,
            );
            if replayed.get(&(prefecture.clone(), key.clone())) != Some(&Some(value.clone())) {
                let event = PlatformEvent::PrefectureSettingChanged {
                    prefecture,
                    key,
                    value: Some(value),
                    adopted_at: None,
                };
                news.push(new_entry(&event, "system:adoption"));
            }
        }
        if news.is_empty() {
            return Ok(());
        }
        tracing::info!(
            entries = news.len(),
            "the platform's operators and 県版 settings are appended to its chain"
        );
        append_in(&mut tx, OWNER, Chain::Ledger, news).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl PlatformChain<'_> {
    async fn begin(&self, write: bool) -> Result<Transaction<'static, Any>, StoreError> {
        self.store
            .backend
            .begin(&self.store.pool, Scope::PlatformChain, write)
            .await
    }

    pub async fn head(&self) -> Result<ChainHead, StoreError> {
        let mut tx = self.begin(false).await?;
        let head = read_head(&mut tx, OWNER, Chain::Ledger).await?;
        tx.commit().await?;
        head.ok_or(StoreError::PlatformChainMissing)
    }

    /// Up to `limit` entries after `after`, in order.
    pub async fn read_after(&self, after: u64, limit: u64) -> Result<Vec<Entry>, StoreError> {
        let mut tx = self.begin(false).await?;
        let page = ledger_page_in(&mut tx, OWNER, after, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Verifies the whole chain against its recorded head.
    pub async fn verify(&self) -> Result<ChainHead, StoreError> {
        let head = self.head().await?;
        verify_pages(self.store, OWNER, Chain::Ledger, head, |after| {
            self.read_after(after, PAGE)
        })
        .await
    }

    /// Applies a verified segment of the platform's chain to its end and projects it, in one
    /// transaction (restore and centre followers; see [`crate::Applied`]).
    pub async fn apply_segment(&self, segment: &Segment) -> Result<Applied, StoreError> {
        let mut tx = self.begin(true).await?;
        if let Some(held) = insert_segment(&mut tx, OWNER, Chain::Ledger, segment).await? {
            tx.commit().await?;
            return Ok(held);
        }
        project(&mut tx, &segment.entries).await?;
        tx.commit().await?;
        Ok(Applied::Appended(segment.header.end()))
    }

    /// Drops the platform's read models and rebuilds them from its chain, holding the head's
    /// lock meanwhile; returns the number of entries replayed. Operator sessions are kept.
    pub async fn rebuild(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin(true).await?;
        lock_head(&mut tx, OWNER, Chain::Ledger).await?;
        for table in [
            "operators",
            "prefecture_settings",
            "prefecture_setting_history",
            "signing_key_secrets",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        let mut after = 0;
        loop {
            let page = ledger_page_in(&mut tx, OWNER, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            project(&mut tx, &page).await?;
        }
        tx.commit().await?;
        Ok(after)
    }
}

/// A ledger entry of `event` by `actor`, effective today in Japan.
pub(crate) fn new_entry(event: &impl EventCodec, actor: &str) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.to_string(),
        version,
        effective_date: murakumo_core::today_in_japan(),
        actor: actor.to_string(),
        payload,
    }
}

/// Writes what `entries` of the platform's chain say into its read models.
async fn project(tx: &mut Transaction<'static, Any>, entries: &[Entry]) -> Result<(), StoreError> {
    for e in entries {
        let Some(event) = PlatformEvent::decode(&e.kind, e.version, &e.payload)? else {
            continue;
        };
        match event {
            PlatformEvent::OperatorCreated {
                operator_id,
                login,
                display_name,
                password_hash,
                adopted_at,
            } => {
                sqlx::query(
                    "INSERT INTO operators (operator_id, login, display_name, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(operator_id.as_str())
                .bind(login.as_str())
                .bind(display_name.as_str())
                .bind(password_hash.as_str())
                .bind(adopted_at.unwrap_or(e.recorded_at.0))
                .execute(&mut **tx)
                .await
                .map_err(|err| {
                    StoreError::on_unique(err, || {
                        format!("operator login {login:?} is already taken")
                    })
                })?;
            }
            PlatformEvent::PrefectureSettingChanged {
                prefecture,
                key,
                value,
                adopted_at,
            } => {
                match &value {
                    Some(v) => {
                        sqlx::query(
                            "INSERT INTO prefecture_settings (prefecture_code, key, value) VALUES ($1, $2, $3) \
                             ON CONFLICT (prefecture_code, key) DO UPDATE SET value = excluded.value",
                        )
                        .bind(prefecture.as_str())
                        .bind(key.as_str())
                        .bind(v.as_str())
                        .execute(&mut **tx)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM prefecture_settings WHERE prefecture_code = $1 AND key = $2",
                        )
                        .bind(prefecture.as_str())
                        .bind(key.as_str())
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO prefecture_setting_history (prefecture_code, key, value, actor, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(prefecture.as_str())
                .bind(key.as_str())
                .bind(value.as_deref())
                .bind(e.actor.as_str())
                .bind(adopted_at.unwrap_or(e.recorded_at.0))
                .execute(&mut **tx)
                .await?;
            }
            PlatformEvent::SigningKeySealed {
                tenant,
                key_id,
                public_key,
                site,
                sealed,
            } => {
                sqlx::query(
                    "INSERT INTO signing_key_secrets (tenant_code, key_id, public_key, site, sealed, sealed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_code, key_id) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(key_id.as_str())
                .bind(public_key)
                .bind(site)
                .bind(sealed)
                .bind(e.recorded_at.0)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

/// 県版 history row: who set what, when (microseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefectureSettingChange {
    pub key: String,
    pub value: Option<String>,
    pub actor: String,
    pub recorded_at: RecordedAt,
}

impl Store {
    /// The history of a prefecture's 県版 values, oldest first.
    pub async fn prefecture_setting_history(
        &self,
        prefecture_code: &str,
    ) -> Result<Vec<PrefectureSettingChange>, StoreError> {
        let mut tx = self.platform_chain().begin(false).await?;
        let rows = sqlx::query(
            "SELECT key, value, actor, recorded_at FROM prefecture_setting_history \
             WHERE prefecture_code = $1 ORDER BY recorded_at, key",
        )
        .bind(prefecture_code)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(PrefectureSettingChange {
                    key: r.try_get("key")?,
                    value: r.try_get("value")?,
                    actor: r.try_get("actor")?,
                    recorded_at: RecordedAt(r.try_get("recorded_at")?),
                })
            })
            .collect()
    }
}
