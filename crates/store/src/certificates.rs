//! Certificate support: per-tenant signing keys, 発行番号 counters, and
//! lookup of issued certificates.

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, NewEntry, RecordedAt};
use murakumo_tenancy::AccessRecord;
use sqlx::{Any, Row, Transaction};

use crate::group::Write;
use crate::{StoreError, TenantStore};

/// A public signing key of a tenant, as published for verifiers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PublicKeyRow {
    pub key_id: String,
    pub public_key: Vec<u8>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub retired_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The municipal site that signs with it (拠点の署名鍵); `None`: the
    /// municipality's own key.
    pub site: Option<String>,
}

/// A signing key with its secret: for backups, restores and followers only.
///
/// Invariant: an empty `secret_key` means the secret is held elsewhere — the
/// key of a municipal site, published and verified here, never signed with.
/// A node signs with the newest unretired key whose secret it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub key_id: String,
    pub public_key: Vec<u8>,
    pub secret_key: Vec<u8>,
    /// µs since 1970 UTC.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// The municipal site whose key this is (`None`: the municipality's).
    pub site: Option<String>,
}

/// Unretired keys whose secret is held on this node: what signing uses, and
/// what a new key of the same holder retires.
const HELD_HERE: &str = "retired_at IS NULL AND length(secret_key) > 0";

/// An issued certificate as the read model holds it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssuedRow {
    pub issue_number: String,
    pub seq: u64,
    pub kind: String,
    pub subjects: Vec<String>,
    pub digest: String,
    pub key_id: String,
    pub issue_date: String,
    pub actor: String,
}

impl TenantStore<'_> {
    /// The key certificates are signed with here now: (key_id, secret
    /// bytes) of the newest unretired key whose secret this node holds (on a
    /// municipal site, the site's own key).
    pub async fn active_signing_key(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(&format!(
            "SELECT key_id, secret_key FROM signing_keys WHERE tenant_code = $1 AND {HELD_HERE} \
             ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(self.tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| Ok((r.try_get("key_id")?, r.try_get("secret_key")?)))
            .transpose()
    }

    /// Adds a new signing key and retires the previous ones held here (they
    /// keep verifying what they signed; the keys of municipal sites are
    /// theirs to replace). `site`: the municipal site making its own key.
    pub async fn rotate_signing_key(
        &self,
        key_id: &str,
        public: &[u8],
        secret: &[u8],
        site: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = RecordedAt::now().0;
        let mut tx = self.begin(true).await?;
        sqlx::query(&format!(
            "UPDATE signing_keys SET retired_at = $2 WHERE tenant_code = $1 AND {HELD_HERE}"
        ))
        .bind(self.tenant.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (tenant_code, key_id, public_key, secret_key, created_at, site) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.tenant.as_str())
        .bind(key_id)
        .bind(public)
        .bind(secret)
        .bind(now)
        .bind(site)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::on_unique(e, || format!("signing key {key_id} exists already")))?;
        tx.commit().await?;
        Ok(())
    }

    /// Every signing key with its secret, oldest first: for backups (which
    /// are encrypted: a restored instance signs with the same key, and
    /// certificates issued before verify against keys it still publishes)
    /// and for followers (token-protected: a fallback node signs what it
    /// issues while the centre is away).
    pub async fn signing_keys_with_secrets(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT key_id, public_key, secret_key, created_at, retired_at, site FROM signing_keys \
             WHERE tenant_code = $1 ORDER BY created_at, key_id",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(SigningKeyRow {
                    key_id: r.try_get("key_id")?,
                    public_key: r.try_get("public_key")?,
                    secret_key: r.try_get("secret_key")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                    site: r.try_get("site")?,
                })
            })
            .collect()
    }

    /// Adds a restored signing key unless one with its id exists; returns
    /// whether it was added. When the backup's active key is restored, any
    /// key this instance made meanwhile is retired, so exactly one is active.
    pub async fn restore_signing_key(&self, key: &SigningKeyRow) -> Result<bool, StoreError> {
        let mut tx = self.begin(true).await?;
        let exists = key_exists(&mut tx, &self.tenant, key.key_id.as_str()).await?;
        if exists {
            tx.commit().await?;
            return Ok(false);
        }
        if key.retired_at.is_none() && !key.secret_key.is_empty() {
            sqlx::query(&format!(
                "UPDATE signing_keys SET retired_at = $2 WHERE tenant_code = $1 AND {HELD_HERE}"
            ))
            .bind(self.tenant.as_str())
            .bind(RecordedAt::now().0)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (tenant_code, key_id, public_key, secret_key, created_at, retired_at, site) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.tenant.as_str())
        .bind(key.key_id.as_str())
        .bind(key.public_key.as_slice())
        .bind(key.secret_key.as_slice())
        .bind(key.created_at)
        .bind(key.retired_at)
        .bind(key.site.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records the public key of a municipal site's own signing key (its
    /// secret stays at the site): certificates issued there verify here and
    /// wherever the platform data goes. Returns whether it was new; a known
    /// key id is left as it is.
    pub async fn register_site_key(
        &self,
        key_id: &str,
        public: &[u8],
        site: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(true).await?;
        let exists = key_exists(&mut tx, &self.tenant, key_id).await?;
        if !exists {
            sqlx::query(
                "INSERT INTO signing_keys (tenant_code, key_id, public_key, secret_key, created_at, site) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(self.tenant.as_str())
            .bind(key_id)
            .bind(public)
            .bind(&[] as &[u8])
            .bind(RecordedAt::now().0)
            .bind(site)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(!exists)
    }

    /// Who signs with the key `key_id`: `None` if the tenant has no such
    /// key, `Some(None)` for the municipality's own key, `Some(Some(site))`
    /// for a municipal site's.
    pub async fn signing_key_site(
        &self,
        key_id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let mut tx = self.begin(false).await?;
        let site = key_site(&mut tx, &self.tenant, key_id).await?;
        tx.commit().await?;
        Ok(site)
    }

    /// On a municipal site: drops every secret but those of the site's own
    /// keys (a site that was given the municipality's secret before it had a
    /// key of its own keeps only the public half). Returns how many.
    pub async fn forget_secrets_except_site(&self, site: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin(true).await?;
        let n = sqlx::query(
            "UPDATE signing_keys SET secret_key = $3 WHERE tenant_code = $1 \
             AND length(secret_key) > 0 AND (site IS NULL OR site <> $2)",
        )
        .bind(self.tenant.as_str())
        .bind(site)
        .bind(&[] as &[u8])
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Every public key of the tenant, newest first.
    pub async fn public_keys(&self) -> Result<Vec<PublicKeyRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT key_id, public_key, created_at, retired_at, site FROM signing_keys WHERE tenant_code = $1 \
             ORDER BY created_at DESC",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let retired: Option<i64> = r.try_get("retired_at")?;
                Ok(PublicKeyRow {
                    key_id: r.try_get("key_id")?,
                    public_key: r.try_get("public_key")?,
                    created_at: RecordedAt(r.try_get("created_at")?).to_datetime(),
                    retired_at: retired.map(|t| RecordedAt(t).to_datetime()),
                    site: r.try_get("site")?,
                })
            })
            .collect()
    }

    /// Takes the next 発行番号 of a series (e.g. `R8`), as `R8-0000123`. A
    /// number is never handed out twice: the counter is a cache, and never
    /// goes below the highest number the ledger shows as issued (so after a
    /// restore or on a promoted replica it continues, not restarts). A number
    /// whose certificate failed to print is skipped, visibly.
    pub async fn next_issue_number(&self, series: &str) -> Result<String, StoreError> {
        self.next_number(series, "certificates", "issue_number")
            .await
    }

    /// Takes the next number of `series` (`{series}-0000123`; a business system numbers its
    /// registrations with it, e.g. 印鑑登録番号), never below
    /// the highest such number in `table.column` (a read model rebuilt from
    /// the ledger): the counter row is only a cache.
    pub async fn next_number(
        &self,
        series: &str,
        table: &'static str,
        column: &'static str,
    ) -> Result<String, StoreError> {
        self.write(Write::Number {
            series: series.to_string(),
            table,
            column,
        })
        .await?
        .number()
    }

    /// Records a certificate issuance: its ledger entry (projected into the
    /// issued-certificate read model) and its access-log records, in one
    /// transaction — both durable, or neither. Returns the sealed ledger
    /// entries.
    pub async fn record_issuance(
        &self,
        entries: Vec<NewEntry>,
        actor: &str,
        access: &[AccessRecord],
    ) -> Result<Vec<Entry>, StoreError> {
        let (ledger, _) = self
            .write(Write::Append {
                ledger: entries,
                access: Some((actor.to_string(), access.to_vec())),
                checked_at: None,
            })
            .await?
            .appended()?;
        Ok(ledger)
    }

    /// The municipal site whose key signed a certificate that this ledger does not hold as
    /// issued — the same 発行番号, key and certified digest (hex) — or `None` when the key is
    /// not a site's or the issuance is recorded. A site's certificate is genuine only once
    /// reconciled: a site key alone could sign anything.
    pub async fn unreconciled_site(
        &self,
        key_id: &str,
        issue_number: &str,
        digest_hex: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(Some(site)) = self.signing_key_site(key_id).await? else {
            return Ok(None);
        };
        let recorded = self
            .issued_certificate(issue_number)
            .await?
            .is_some_and(|i| i.key_id == key_id && i.digest == digest_hex);
        Ok((!recorded).then_some(site))
    }

    pub async fn issued_certificate(
        &self,
        issue_number: &str,
    ) -> Result<Option<IssuedRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(
            "SELECT issue_number, seq, kind, subjects, digest, key_id, issue_date, actor FROM certificates \
             WHERE tenant_code = $1 AND issue_number = $2",
        )
        .bind(self.tenant.as_str())
        .bind(issue_number)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            let subjects: String = r.try_get("subjects")?;
            Ok(IssuedRow {
                issue_number: r.try_get("issue_number")?,
                seq: r.try_get::<i64, _>("seq")? as u64,
                kind: r.try_get("kind")?,
                subjects: subjects
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                digest: r.try_get("digest")?,
                key_id: r.try_get("key_id")?,
                issue_date: r.try_get("issue_date")?,
                actor: r.try_get("actor")?,
            })
        })
        .transpose()
    }
}

/// A 発行番号 taken apart: `R8-0000123` is number 123 of the centre's series
/// `R8` (era letter and year, or a four-digit year); `R8B1-0000001` is number
/// 1 of a municipal site's series, the centre's `R8` followed by the site's
/// own `B1` (`murakumo follow --site-series`: 1 to 4 capital letters and
/// digits, starting with a letter). The two never overlap, so a site can
/// never take — or take away — a number of the centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssueNumber<'a> {
    /// The centre's part of the series (`R8`).
    pub base: &'a str,
    /// The site's part (`B1`); empty for the centre's own series.
    pub site: &'a str,
    pub number: u64,
}

/// Splits a 発行番号 into its series and number; `None` if it is not one.
pub fn parse_issue_number(s: &str) -> Option<IssueNumber<'_>> {
    let (series, digits) = s.split_once('-')?;
    if !(7..=12).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    let era = usize::from(series.starts_with(|c: char| c.is_ascii_uppercase()));
    let year_len = series[era..].bytes().take_while(u8::is_ascii_digit).count();
    if year_len == 0 || year_len > 4 || (era == 0 && year_len != 4) {
        return None;
    }
    let (base, site) = series.split_at(era + year_len);
    let site_ok = site.is_empty()
        || (site.len() <= 4
            && site.starts_with(|c: char| c.is_ascii_uppercase())
            && site
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    site_ok.then_some(IssueNumber { base, site, number })
}

/// Takes the next number of `series` inside `tx` (see
/// [`TenantStore::next_number`]).
pub(crate) async fn take_number(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    series: &str,
    table: &str,
    column: &str,
) -> Result<String, StoreError> {
    let prefix = format!("{series}-");
    // Lock the counter row first, as appends lock the chain head — creating
    // it if this is the series' first number. An UPDATE alone locks nothing
    // when the row does not exist yet, and two first issuances of a series
    // on PostgreSQL both took number 1.
    let counter: i64 = sqlx::query(
        "INSERT INTO issue_counters (tenant_code, series, next_number) VALUES ($1, $2, 0) \
         ON CONFLICT (tenant_code, series) DO UPDATE SET next_number = issue_counters.next_number \
         RETURNING next_number",
    )
    .bind(tenant.as_str())
    .bind(series)
    .fetch_one(&mut **tx)
    .await?
    .try_get("next_number")?;
    // Numbers are zero-padded, so the greatest string is the greatest number.
    let issued: Option<String> = sqlx::query(&format!(
        "SELECT MAX({column}) AS top FROM {table} \
         WHERE tenant_code = $1 AND {column} >= $2 AND {column} < $3"
    ))
    .bind(tenant.as_str())
    .bind(prefix.as_str())
    .bind(format!("{series}."))
    .fetch_one(&mut **tx)
    .await?
    .try_get("top")?;
    let after_issued = issued
        .as_deref()
        .and_then(|n| n.strip_prefix(&prefix))
        .and_then(|n| n.parse::<i64>().ok())
        .map_or(1, |n| n + 1);
    let next = (counter + 1).max(after_issued);
    sqlx::query(
        "UPDATE issue_counters SET next_number = $1 WHERE tenant_code = $2 AND series = $3",
    )
    .bind(next)
    .bind(tenant.as_str())
    .bind(series)
    .execute(&mut **tx)
    .await?;
    Ok(format!("{prefix}{next:07}"))
}

/// Whether the tenant has a signing key of this id (any holder).
pub(crate) async fn key_exists(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    key_id: &str,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM signing_keys WHERE tenant_code = $1 AND key_id = $2")
            .bind(tenant.as_str())
            .bind(key_id)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// Who signs with `key_id` (see [`TenantStore::signing_key_site`]).
pub(crate) async fn key_site(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    key_id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    let row = sqlx::query("SELECT site FROM signing_keys WHERE tenant_code = $1 AND key_id = $2")
        .bind(tenant.as_str())
        .bind(key_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.try_get::<Option<String>, _>("site"))
        .transpose()
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centres_and_a_sites_series_never_overlap() {
        let n = |s| parse_issue_number(s).map(|n| (n.base, n.site, n.number));
        assert_eq!(n("R8-0000123"), Some(("R8", "", 123)));
        assert_eq!(n("H31-0000001"), Some(("H31", "", 1)));
        assert_eq!(n("2026-0000001"), Some(("2026", "", 1)));
        assert_eq!(n("R8B1-0000001"), Some(("R8", "B1", 1)));
        assert_eq!(n("R10S12-0000002"), Some(("R10", "S12", 2)));
        assert_eq!(n("2026B-0000003"), Some(("2026", "B", 3)));
        for bad in [
            "",
            "R8",
            "R8-",
            "R8-12",
            "R8-00000x1",
            "r8-0000001",
            "R-0000001",
            "RB1-0000001",
            "R8b1-0000001",
            "R8B12345-0000001",
            "R8B-1-0000001",
            "26-0000001",
            "R8B1-+000001",
            "R８-0000001",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }
}
