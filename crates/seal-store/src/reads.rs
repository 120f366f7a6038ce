//! The seal system's queries on its read models: registrations (in force and cancelled),
//! their 印影, and the tenant's 公印 image.

use async_trait::async_trait;
use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_seal::SealRecord;
use murakumo_seal::statistics::SealStatistics;
use murakumo_store::sql::date_str;
use murakumo_store::{StoreError, TenantStore};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Search conditions for registrations; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct SealQuery {
    /// 印鑑登録番号, exactly.
    pub registration_number: Option<String>,
    /// 印鑑登録証番号, exactly.
    pub card_number: Option<String>,
    /// 住民票コード of the registrant.
    pub resident_code: Option<String>,
    /// Include cancelled registrations (廃止・亡失・職権抹消).
    pub include_cancelled: bool,
    pub limit: u32,
}

/// The series of 印鑑登録番号: `S-0000001`, …
const SERIES: &str = "S";

/// The seal system's reads, on a tenant's store (`use murakumo_seal_store::SealReads`).
#[async_trait]
pub trait SealReads: Sync {
    /// The tenant's store the reads run on.
    fn tenant_store(&self) -> &TenantStore<'_>;

    /// 印鑑登録の統計 of `from..=to` from the registrations' dates (M-INKAN-22): those in
    /// force at its end, registered in it, and ended in it by reason. The certificates are
    /// the platform's to count (`TenantStore::certificates_issued`): left at 0 here.
    async fn seal_statistics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<SealStatistics, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let ended = |reason: &str| {
            format!(
                "COALESCE(SUM(CASE WHEN cancelled_on >= $2 AND cancelled_on <= $3 \
                 AND cancel_reason = '{reason}' THEN 1 ELSE 0 END), 0)"
            )
        };
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN registered_on <= $3 AND (cancelled_on IS NULL OR cancelled_on > $3) \
             THEN 1 ELSE 0 END), 0) AS in_force, \
             COALESCE(SUM(CASE WHEN registered_on >= $2 AND registered_on <= $3 THEN 1 ELSE 0 END), 0) AS registered, \
             {} AS abolished, {} AS card_lost, {} AS ex_officio FROM seals WHERE tenant_code = $1",
            ended("abolished"),
            ended("card_lost"),
            ended("ex_officio"),
        );
        let row = sqlx::query(&sql)
            .bind(self.tenant_store().code().as_str())
            .bind(date_str(from))
            .bind(date_str(to))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let count = |column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        Ok(SealStatistics {
            from,
            to,
            in_force: count("in_force")?,
            registered: count("registered")?,
            abolished: count("abolished")?,
            card_lost: count("card_lost")?,
            ex_officio: count("ex_officio")?,
            certificates: 0,
        })
    }

    /// Registrations matching `q`, in force first, then newest first.
    async fn search_seals(&self, q: &SealQuery) -> Result<Vec<SealRecord>, StoreError> {
        let mut sql = String::from("SELECT record FROM seals WHERE tenant_code = $1");
        let mut binds: Vec<&str> = Vec::new();
        for (col, v) in [
            ("registration_number", &q.registration_number),
            ("card_number", &q.card_number),
            ("resident_code", &q.resident_code),
        ] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                binds.push(v);
                sql.push_str(&format!(" AND {col} = ${}", binds.len() + 1));
            }
        }
        if !q.include_cancelled {
            sql.push_str(" AND status = 'active'");
        }
        sql.push_str(&format!(
            " ORDER BY status, registered_on DESC, registration_number DESC LIMIT {}",
            q.limit.clamp(1, 500)
        ));
        let mut tx = self.tenant_store().begin(false).await?;
        let mut query = sqlx::query(&sql).bind(self.tenant_store().code().as_str());
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| seal_from_row(self.tenant_store().code(), r))
            .collect()
    }

    /// One registration by 印鑑登録番号.
    async fn seal(&self, registration_number: &str) -> Result<Option<SealRecord>, StoreError> {
        Ok(self
            .search_seals(&SealQuery {
                registration_number: Some(registration_number.to_string()),
                include_cancelled: true,
                limit: 1,
                ..Default::default()
            })
            .await?
            .into_iter()
            .next())
    }

    /// Every registration of a resident, in force first.
    async fn seals_of_resident(&self, resident_code: &str) -> Result<Vec<SealRecord>, StoreError> {
        self.search_seals(&SealQuery {
            resident_code: Some(resident_code.to_string()),
            include_cancelled: true,
            limit: 500,
            ..Default::default()
        })
        .await
    }

    /// The 印影 (PNG) of a registration.
    async fn seal_impression(
        &self,
        registration_number: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let row = sqlx::query(
            "SELECT impression FROM seals WHERE tenant_code = $1 AND registration_number = $2",
        )
        .bind(self.tenant_store().code().as_str())
        .bind(registration_number)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| r.try_get("impression").map_err(StoreError::from))
            .transpose()
    }

    /// The tenant's 公印 image (PNG), if one was set.
    async fn official_seal(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let row = sqlx::query("SELECT png FROM official_seals WHERE tenant_code = $1")
            .bind(self.tenant_store().code().as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| r.try_get("png").map_err(StoreError::from))
            .transpose()
    }

    /// Takes the next 印鑑登録番号 (`S-0000123`); see `next_issue_number`.
    async fn next_seal_number(&self) -> Result<String, StoreError> {
        self.tenant_store()
            .next_number(SERIES, "seals", "registration_number")
            .await
    }
}

impl SealReads for TenantStore<'_> {
    fn tenant_store(&self) -> &TenantStore<'_> {
        self
    }
}

fn seal_from_row(tenant: &TenantCode, r: &AnyRow) -> Result<SealRecord, StoreError> {
    murakumo_store::sql::record_column(tenant, r, "seal record")
}
