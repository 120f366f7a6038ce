//! Platform-level data: the tenant list, prefecture (県版) settings and
//! platform operators. None of it is personal data of residents.

use chrono::{DateTime, Utc};
use murakumo_core::TenantCode;
use murakumo_ledger::{ChainHash, Entry, EventCodec, NewEntry, RecordedAt};
use murakumo_tenancy::{PlatformEvent, TenancyEvent};
use sqlx::Row;

use crate::backend::Scope;
use crate::rows::Chain;
use crate::tenant::append_in;
use crate::{Store, StoreError, projection};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantInfo {
    pub code: TenantCode,
    pub name: String,
    pub prefecture_code: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Operator {
    pub operator_id: String,
    pub login: String,
    pub display_name: String,
    pub password_hash: String,
}

/// A platform operator's server-side session.
#[derive(Clone, Debug)]
pub struct OperatorSessionRow {
    pub operator_id: String,
    pub created_at: i64,
    pub last_seen: i64,
}

impl Store {
    /// Creates a tenant: its row in the tenant list, empty chain heads, and
    /// the genesis entry of its ledger, in one transaction.
    pub async fn create_tenant(
        &self,
        code: &TenantCode,
        name: &str,
        actor: &str,
    ) -> Result<Entry, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::TenantAndPlatform(code), true)
            .await?;
        let now = RecordedAt::now();
        sqlx::query("INSERT INTO tenants (tenant_code, name, prefecture_code, created_at) VALUES ($1, $2, $3, $4)")
            .bind(code.as_str())
            .bind(name)
            .bind(format!("{:02}", code.prefecture().code()))
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::TenantExists(*code),
                _ => StoreError::Database(e),
            })?;
        for chain in [Chain::Ledger, Chain::Access] {
            sqlx::query(
                "INSERT INTO chain_heads (tenant_code, chain, seq, hash) VALUES ($1, $2, 0, $3)",
            )
            .bind(code.as_str())
            .bind(chain.name())
            .bind(ChainHash::GENESIS.0.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        let (kind, version, payload) = TenancyEvent::TenantCreated {
            code: code.to_string(),
            name: name.to_string(),
        }
        .encode();
        let genesis = NewEntry {
            kind: kind.to_string(),
            version,
            effective_date: now.to_datetime().date_naive(),
            actor: actor.to_string(),
            payload,
        };
        let mut sealed = append_in(&mut tx, code, Chain::Ledger, vec![genesis]).await?;
        projection::apply(&self.systems, &mut tx, code, &sealed).await?;
        tx.commit().await?;
        Ok(sealed.remove(0))
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query("SELECT tenant_code, name, prefecture_code, created_at FROM tenants ORDER BY tenant_code")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let code: String = r.try_get("tenant_code")?;
                Ok(TenantInfo {
                    code: TenantCode::parse(&code)
                        .map_err(|e| StoreError::Conflict(e.to_string()))?,
                    name: r.try_get("name")?,
                    prefecture_code: r.try_get("prefecture_code")?,
                    created_at: RecordedAt(r.try_get("created_at")?).to_datetime(),
                })
            })
            .collect()
    }

    pub async fn tenant_info(&self, code: &TenantCode) -> Result<TenantInfo, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Tenant(code), false)
            .await?;
        let row = sqlx::query(
            "SELECT name, prefecture_code, created_at FROM tenants WHERE tenant_code = $1",
        )
        .bind(code.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let r = row.ok_or_else(|| StoreError::TenantNotFound(*code))?;
        Ok(TenantInfo {
            code: *code,
            name: r.try_get("name")?,
            prefecture_code: r.try_get("prefecture_code")?,
            created_at: RecordedAt(r.try_get("created_at")?).to_datetime(),
        })
    }

    // ---- 県版 settings ----

    pub async fn prefecture_settings(
        &self,
        prefecture_code: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query(
            "SELECT key, value FROM prefecture_settings WHERE prefecture_code = $1 ORDER BY key",
        )
        .bind(prefecture_code)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect()
    }

    /// Sets (or with `None` clears) a prefecture-tier value: an entry of the platform's chain,
    /// whose projection keeps the value and its history.
    pub async fn set_prefecture_setting(
        &self,
        prefecture_code: &str,
        key: &str,
        value: Option<&str>,
        actor: &str,
    ) -> Result<(), StoreError> {
        let event = PlatformEvent::PrefectureSettingChanged {
            prefecture: prefecture_code.to_string(),
            key: key.to_string(),
            value: value.map(str::to_string),
            adopted_at: None,
        };
        self.append_platform(actor, &[event]).await?;
        Ok(())
    }

    // ---- operators ----

    /// Creates a platform operator: an entry of the platform's chain. A login already taken
    /// is refused and nothing is appended.
    pub async fn create_operator(&self, op: &Operator, actor: &str) -> Result<(), StoreError> {
        let event = PlatformEvent::OperatorCreated {
            operator_id: op.operator_id.clone(),
            login: op.login.clone(),
            display_name: op.display_name.clone(),
            password_hash: op.password_hash.clone(),
            adopted_at: None,
        };
        self.append_platform(actor, &[event]).await?;
        Ok(())
    }

    pub async fn operator_for_login(&self, login: &str) -> Result<Option<Operator>, StoreError> {
        self.operator_where("login", login).await
    }

    pub async fn operator_by_id(&self, id: &str) -> Result<Option<Operator>, StoreError> {
        self.operator_where("operator_id", id).await
    }

    async fn operator_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Operator>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT operator_id, login, display_name, password_hash FROM operators WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(Operator {
                operator_id: r.try_get("operator_id")?,
                login: r.try_get("login")?,
                display_name: r.try_get("display_name")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    pub async fn create_operator_session(
        &self,
        token_hash: &[u8],
        operator_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query(
            "INSERT INTO operator_sessions (token_hash, operator_id, created_at, last_seen) VALUES ($1, $2, $3, $3)",
        )
        .bind(token_hash)
        .bind(operator_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// An operator session: who, and when it began and was last used.
    pub async fn operator_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<OperatorSessionRow>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let row = sqlx::query(
            "SELECT operator_id, created_at, last_seen FROM operator_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(OperatorSessionRow {
                operator_id: r.try_get("operator_id")?,
                created_at: r.try_get("created_at")?,
                last_seen: r.try_get("last_seen")?,
            })
        })
        .transpose()
    }

    pub async fn touch_operator_session(
        &self,
        token_hash: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query("UPDATE operator_sessions SET last_seen = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_operator_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
