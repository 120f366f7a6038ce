//! SAML single sign-on state: which municipality uses which IdP (projected
//! from `tenancy.sso_configured`), outstanding AuthnRequests, the replay
//! cache of assertion ids, and the SAML data of sessions for single logout.

use murakumo_core::TenantCode;
use sqlx::Row;

use crate::backend::Scope;
use crate::{Store, StoreError, TenantStore};

/// A session opened by SAML: what single logout needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlSessionRow {
    pub staff_id: String,
    pub name_id: String,
    pub session_index: Option<String>,
}

impl Store {
    /// Municipalities whose IdP has this entity id (several when a
    /// prefecture runs one IdP for its municipalities).
    pub async fn sso_tenants_for_idp(
        &self,
        entity_id: &str,
    ) -> Result<Vec<TenantCode>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query(
            "SELECT tenant_code FROM sso_configs WHERE idp_entity_id = $1 ORDER BY tenant_code",
        )
        .bind(entity_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let code: String = r.try_get("tenant_code")?;
                TenantCode::parse(&code).map_err(|e| StoreError::Conflict(e.to_string()))
            })
            .collect()
    }

    /// Remembers an AuthnRequest sent for `tenant`; drops requests older
    /// than `expired_before`.
    pub async fn saml_request_put(
        &self,
        request_id: &str,
        tenant: &TenantCode,
        now: i64,
        expired_before: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        sqlx::query("DELETE FROM saml_requests WHERE created_at < $1")
            .bind(expired_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO saml_requests (request_id, tenant_code, created_at) VALUES ($1, $2, $3)",
        )
        .bind(request_id)
        .bind(tenant.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes (uses up) an outstanding request: its tenant, if it exists and
    /// was created at or after `not_before`. A request answers one response.
    pub async fn saml_request_take(
        &self,
        request_id: &str,
        not_before: i64,
    ) -> Result<Option<TenantCode>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, true)
            .await?;
        let row =
            sqlx::query("SELECT tenant_code, created_at FROM saml_requests WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
        let deleted = sqlx::query("DELETE FROM saml_requests WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let created: i64 = row.try_get("created_at")?;
        if deleted != 1 || created < not_before {
            return Ok(None);
        }
        let code: String = row.try_get("tenant_code")?;
        Ok(Some(
            TenantCode::parse(&code).map_err(|e| StoreError::Conflict(e.to_string()))?,
        ))
    }

    /// Whether a request id is outstanding, without using it up.
    pub async fn saml_request_tenant(
        &self,
        request_id: &str,
    ) -> Result<Option<TenantCode>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let row = sqlx::query("SELECT tenant_code FROM saml_requests WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| {
            let code: String = r.try_get("tenant_code")?;
            TenantCode::parse(&code).map_err(|e| StoreError::Conflict(e.to_string()))
        })
        .transpose()
    }
}

impl TenantStore<'_> {
    /// The municipality's SSO configuration (JSON), if any.
    pub async fn sso_config(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query("SELECT config_json FROM sso_configs WHERE tenant_code = $1")
            .bind(self.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| r.try_get("config_json").map_err(StoreError::from))
            .transpose()
    }

    /// Records the first use of an assertion id; `false` if it was used
    /// before (a replay). Expired ids are forgotten on the way.
    pub async fn saml_assertion_first_use(
        &self,
        assertion_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(true).await?;
        sqlx::query("DELETE FROM saml_assertions WHERE tenant_code = $1 AND expires_at < $2")
            .bind(self.tenant.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO saml_assertions (tenant_code, assertion_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_code, assertion_id) DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(assertion_id)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    /// Creates a staff session opened by SAML (the same server-side session
    /// a password login creates, plus what single logout needs).
    pub async fn create_saml_session(
        &self,
        token_hash: &[u8],
        staff_id: &str,
        name_id: &str,
        session_index: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(true).await?;
        sqlx::query(
            "INSERT INTO sessions (tenant_code, token_hash, staff_id, created_at, last_seen) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(self.tenant.as_str())
        .bind(token_hash)
        .bind(staff_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO saml_sessions (tenant_code, token_hash, staff_id, name_id, session_index) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.tenant.as_str())
        .bind(token_hash)
        .bind(staff_id)
        .bind(name_id)
        .bind(session_index)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn saml_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<SamlSessionRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(
            "SELECT staff_id, name_id, session_index FROM saml_sessions WHERE tenant_code = $1 AND token_hash = $2",
        )
        .bind(self.tenant.as_str())
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(SamlSessionRow {
                staff_id: r.try_get("staff_id")?,
                name_id: r.try_get("name_id")?,
                session_index: r.try_get("session_index")?,
            })
        })
        .transpose()
    }

    /// Ends the sessions an IdP's LogoutRequest names: those of `name_id`,
    /// limited to `session_indexes` when any are given. Returns how many.
    pub async fn end_saml_sessions(
        &self,
        name_id: &str,
        session_indexes: &[String],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin(true).await?;
        let rows = sqlx::query(
            "SELECT token_hash, session_index FROM saml_sessions WHERE tenant_code = $1 AND name_id = $2",
        )
        .bind(self.tenant.as_str())
        .bind(name_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut ended = 0;
        for r in rows {
            let hash: Vec<u8> = r.try_get("token_hash")?;
            let index: Option<String> = r.try_get("session_index")?;
            if !session_indexes.is_empty()
                && !index.as_ref().is_some_and(|i| session_indexes.contains(i))
            {
                continue;
            }
            for table in ["sessions", "saml_sessions"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE tenant_code = $1 AND token_hash = $2"
                ))
                .bind(self.tenant.as_str())
                .bind(hash.as_slice())
                .execute(&mut *tx)
                .await?;
            }
            ended += 1;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Forgets the SAML data of a session (at logout).
    pub async fn delete_saml_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin(true).await?;
        sqlx::query("DELETE FROM saml_sessions WHERE tenant_code = $1 AND token_hash = $2")
            .bind(self.tenant.as_str())
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
