//! Whole-platform reads and writes for backup and restore: everything that
//! is not in a tenant's chains (which travel as ledger segments).

use sqlx::Row;

use crate::backend::Scope;
use crate::{Operator, Store, StoreError};

impl Store {
    /// Every prefecture (県版) setting: (prefecture code, key, value).
    pub async fn prefecture_settings_all(
        &self,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query(
            "SELECT prefecture_code, key, value FROM prefecture_settings ORDER BY prefecture_code, key",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("prefecture_code")?,
                    r.try_get("key")?,
                    r.try_get("value")?,
                ))
            })
            .collect()
    }

    /// Every platform operator, with password hashes (for restore).
    pub async fn operators_all(&self) -> Result<Vec<Operator>, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, Scope::Platform, false)
            .await?;
        let rows = sqlx::query(
            "SELECT operator_id, login, display_name, password_hash FROM operators ORDER BY operator_id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Operator {
                    operator_id: r.try_get("operator_id")?,
                    login: r.try_get("login")?,
                    display_name: r.try_get("display_name")?,
                    password_hash: r.try_get("password_hash")?,
                })
            })
            .collect()
    }

    /// Adds a restored operator, by `actor`, unless one with the same id or login exists.
    /// Returns whether it was added.
    pub async fn import_operator(&self, op: &Operator, actor: &str) -> Result<bool, StoreError> {
        if self.operator_by_id(&op.operator_id).await?.is_some()
            || self.operator_for_login(&op.login).await?.is_some()
        {
            return Ok(false);
        }
        self.create_operator(op, actor).await?;
        Ok(true)
    }
}
