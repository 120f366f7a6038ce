//! Certificate support: per-tenant signing keys (public halves in the municipality's ledger,
//! secrets sealed in the platform's chain), 発行番号 counters, and lookup of issued
//! certificates.

use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, NewEntry, RecordedAt};
use murakumo_tenancy::{AccessRecord, PlatformEvent, SigningKeyPublished, TenancyEvent};
use sqlx::{Any, Row, Transaction};
use zeroize::Zeroizing;

use crate::group::Write;
use crate::platform_chain::new_entry;
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

/// A signing key as this node holds it (for checks and tests; nothing ships it: its public
/// half travels in the municipality's ledger, its secret sealed in the platform's chain).
///
/// Invariant: an empty `secret_key` means this node cannot sign with the key — a municipal
/// site's key at the centre, the municipality's key at a site, or a secret sealed under
/// another platform key. A node signs with the newest key whose secret it holds.
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
    /// The key certificates are signed with here now: (key_id, secret bytes) of the newest
    /// key whose sealed secret this node holds and opens under its platform key (on a
    /// municipal site, the site's own key). `None`: none yet, or none that opens here.
    pub async fn active_signing_key(
        &self,
    ) -> Result<Option<(String, Zeroizing<Vec<u8>>)>, StoreError> {
        for (key_id, sealed) in self.sealed_secrets().await? {
            match self.store.open_sealed(&self.tenant, &key_id, &sealed)? {
                Some(secret) => return Ok(Some((key_id, secret))),
                None => tracing::warn!(tenant = %self.tenant, key_id,
                    "a signing key's secret is sealed under another platform key: this node \
                     cannot sign with it (give it the platform's --platform-key-file)"),
            }
        }
        Ok(None)
    }

    /// Whether any secret of this tenant's keys is held sealed here (opening or not): a
    /// node without a key that opens must not make a key of its own.
    pub async fn holds_sealed_signing_keys(&self) -> Result<bool, StoreError> {
        Ok(!self.sealed_secrets().await?.is_empty())
    }

    /// The sealed secrets held for this tenant, newest first.
    async fn sealed_secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT key_id, sealed FROM signing_key_secrets WHERE tenant_code = $1 \
             ORDER BY sealed_at DESC, key_id DESC",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key_id")?, r.try_get("sealed")?)))
            .collect()
    }

    /// Starts signing with a new key of the municipality (at the centre): its public half is
    /// published in the municipality's ledger, then its secret sealed in the platform's
    /// chain. Earlier keys of the municipality retire and keep verifying what they signed. A
    /// crash in between leaves the new key published and the previous one signing.
    pub async fn rotate_signing_key(
        &self,
        actor: &str,
        key_id: &str,
        public: &[u8],
        secret: &[u8],
    ) -> Result<(), StoreError> {
        self.publish_signing_key(actor, key_id, public, None, None)
            .await?;
        self.store
            .seal_signing_key(actor, &self.tenant, key_id, public, None, secret)
            .await
    }

    /// Publishes a public key in the municipality's ledger (`site`: a municipal site's own
    /// key) unless a key of that id is published already; returns whether it was new.
    pub async fn publish_signing_key(
        &self,
        actor: &str,
        key_id: &str,
        public: &[u8],
        site: Option<&str>,
        adopted: Option<(i64, Option<i64>)>,
    ) -> Result<bool, StoreError> {
        if self.signing_key_site(key_id).await?.is_some() {
            return Ok(false);
        }
        self.append_published(actor, key_id, public, site, adopted)
            .await?;
        Ok(true)
    }

    /// Appends `tenancy.signing_key_published`, unchecked (see [`Self::publish_signing_key`]).
    async fn append_published(
        &self,
        actor: &str,
        key_id: &str,
        public: &[u8],
        site: Option<&str>,
        adopted: Option<(i64, Option<i64>)>,
    ) -> Result<(), StoreError> {
        let event = TenancyEvent::SigningKeyPublished(SigningKeyPublished {
            key_id: key_id.to_string(),
            public_key: public.to_vec(),
            site: site.map(str::to_string),
            adopted,
        });
        self.append(vec![new_entry(&event, actor)]).await?;
        Ok(())
    }

    /// Every signing key published here, with its secret where this node holds one, and the
    /// keys whose secret is held but not yet published (a site's new key before the centre
    /// has published it), oldest first.
    pub async fn signing_keys_with_secrets(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let mut held = std::collections::HashMap::new();
        for (key_id, sealed) in self.sealed_secrets().await? {
            if let Some(secret) = self.store.open_sealed(&self.tenant, &key_id, &sealed)? {
                held.insert(key_id, secret.to_vec());
            }
        }
        // Published keys, oldest first, then the held ones not published yet.
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT 0 AS pending, key_id, public_key, created_at, retired_at, site FROM signing_keys \
             WHERE tenant_code = $1 \
             UNION ALL SELECT 1, key_id, public_key, sealed_at, NULL, site FROM signing_key_secrets s \
             WHERE tenant_code = $1 AND NOT EXISTS (SELECT 1 FROM signing_keys k \
             WHERE k.tenant_code = s.tenant_code AND k.key_id = s.key_id) \
             ORDER BY pending, created_at, key_id",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out = Vec::new();
        for r in &rows {
            let key_id: String = r.try_get("key_id")?;
            out.push(SigningKeyRow {
                secret_key: held.remove(&key_id).unwrap_or_default(),
                public_key: r.try_get("public_key")?,
                created_at: r.try_get("created_at")?,
                retired_at: r.try_get("retired_at")?,
                site: r.try_get("site")?,
                key_id,
            });
        }
        Ok(out)
    }

    /// Takes in a key of a backup written before keys were ledger entries (or of this
    /// database, when a version that makes them so first opens it): publishes it with its
    /// recorded times, and seals its secret, if any, in the platform's chain. Returns whether
    /// anything was added; what is held already is left as it is.
    pub async fn adopt_signing_key(
        &self,
        actor: &str,
        key: &SigningKeyRow,
    ) -> Result<bool, StoreError> {
        let published = self
            .publish_signing_key(
                actor,
                &key.key_id,
                &key.public_key,
                key.site.as_deref(),
                Some((key.created_at, key.retired_at)),
            )
            .await?;
        let seal = !key.secret_key.is_empty()
            && !self
                .sealed_secrets()
                .await?
                .iter()
                .any(|(id, _)| *id == key.key_id);
        if seal {
            self.store
                .seal_signing_key(
                    actor,
                    &self.tenant,
                    &key.key_id,
                    &key.public_key,
                    key.site.as_deref(),
                    &key.secret_key,
                )
                .await?;
        }
        Ok(published || seal)
    }

    /// Publishes the public key of a municipal site's own signing key (its secret stays at
    /// the site): certificates issued there verify here and wherever the ledger goes.
    /// Returns whether it was new; a known key id is left as it is.
    pub async fn register_site_key(
        &self,
        key_id: &str,
        public: &[u8],
        site: &str,
    ) -> Result<bool, StoreError> {
        self.publish_signing_key(&format!("site:{site}"), key_id, public, Some(site), None)
            .await
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
        let row = sqlx::query(&format!(
            "SELECT {ISSUED_COLUMNS} FROM certificates WHERE tenant_code = $1 AND issue_number = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(issue_number)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(issued_row).transpose()
    }

    /// How many certificates of `kind` were issued from `from` to `to`, both included.
    pub async fn certificates_issued(
        &self,
        kind: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin(false).await?;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM certificates WHERE tenant_code = $1 AND kind = $2 \
             AND issue_date >= $3 AND issue_date <= $4",
        )
        .bind(self.tenant.as_str())
        .bind(kind)
        .bind(crate::sql::date_str(from))
        .bind(crate::sql::date_str(to))
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        tx.commit().await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The certificates of `kind` issued for one person alone (a 印鑑登録証明書 certifies
    /// one registrant), oldest first: the person's 交付履歴.
    pub async fn issued_certificates_of(
        &self,
        kind: &str,
        resident_code: &str,
    ) -> Result<Vec<IssuedRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(&format!(
            "SELECT {ISSUED_COLUMNS} FROM certificates \
             WHERE tenant_code = $1 AND kind = $2 AND subjects = $3 ORDER BY seq"
        ))
        .bind(self.tenant.as_str())
        .bind(kind)
        .bind(resident_code)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(issued_row).collect()
    }
}

/// The columns [`issued_row`] reads.
const ISSUED_COLUMNS: &str = "issue_number, seq, kind, subjects, digest, key_id, issue_date, actor";

fn issued_row(r: &sqlx::any::AnyRow) -> Result<IssuedRow, StoreError> {
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

/// Projects `tenancy.signing_key_published` into `signing_keys`: a key retires the earlier
/// unretired keys of its holder (the municipality, or the same site), unless it was adopted
/// with times of its own.
pub(crate) async fn project_published(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
    e: &Entry,
    k: SigningKeyPublished,
) -> Result<(), StoreError> {
    let (created, retired) = match k.adopted {
        Some(times) => times,
        None => {
            sqlx::query(
                "UPDATE signing_keys SET retired_at = $3 WHERE tenant_code = $1 \
                 AND retired_at IS NULL AND COALESCE(site, '') = $2",
            )
            .bind(tenant.as_str())
            .bind(k.site.as_deref().unwrap_or(""))
            .bind(e.recorded_at.0)
            .execute(&mut **tx)
            .await?;
            (e.recorded_at.0, None)
        }
    };
    sqlx::query(
        "INSERT INTO signing_keys (tenant_code, key_id, public_key, secret_key, created_at, retired_at, site) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_code, key_id) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(k.key_id.as_str())
    .bind(k.public_key.as_slice())
    .bind(&[] as &[u8])
    .bind(created)
    .bind(retired)
    .bind(k.site.as_deref())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl crate::Store {
    /// Seals `secret` under this node's platform key and appends it to the platform's chain.
    pub async fn seal_signing_key(
        &self,
        actor: &str,
        tenant: &TenantCode,
        key_id: &str,
        public: &[u8],
        site: Option<&str>,
        secret: &[u8],
    ) -> Result<(), StoreError> {
        let key = self
            .platform_key
            .as_ref()
            .ok_or(StoreError::NoPlatformKey)?;
        let event = PlatformEvent::SigningKeySealed {
            tenant: tenant.to_string(),
            key_id: key_id.to_string(),
            public_key: public.to_vec(),
            site: site.map(str::to_string),
            sealed: key.seal(tenant.as_str(), key_id, secret),
        };
        self.append_platform(actor, &[event]).await?;
        Ok(())
    }

    /// Opens a sealed secret of `tenant`'s key; `None` if it was sealed under another
    /// platform key or changed.
    fn open_sealed(
        &self,
        tenant: &TenantCode,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let key = self
            .platform_key
            .as_ref()
            .ok_or(StoreError::NoPlatformKey)?;
        Ok(key.open(tenant.as_str(), key_id, sealed))
    }
}

/// `meta` key set once the signing keys of a database older than keys in chains are adopted.
const KEYS_ADOPTED: &str = "signing_keys_in_chains";

impl crate::Store {
    /// At the first start of a version where signing keys are ledger entries: on a primary,
    /// every key in `signing_keys` is published in its municipality's ledger (with its
    /// recorded times) and every secret there sealed into the platform's chain; on any node
    /// the secrets in clear are then dropped (a centre replica receives them sealed from its
    /// primary, a municipal site makes a key of its own). Runs once per database; two nodes
    /// starting together may both append, which the projections take once.
    pub(crate) async fn adopt_signing_keys(&self) -> Result<(), StoreError> {
        if self.platform_key.is_none() || self.meta_flag(KEYS_ADOPTED).await? {
            return Ok(());
        }
        let primary = self.node_state().await?.role == crate::NodeRole::Primary;
        for t in self.list_tenants().await? {
            let ts = self.tenant(&t.code);
            let mut tx = ts.begin(false).await?;
            let rows = sqlx::query(
                "SELECT key_id, public_key, secret_key, created_at, retired_at, site FROM signing_keys \
                 WHERE tenant_code = $1 ORDER BY created_at, key_id",
            )
            .bind(t.code.as_str())
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            for r in &rows {
                let key = SigningKeyRow {
                    key_id: r.try_get("key_id")?,
                    public_key: r.try_get("public_key")?,
                    secret_key: r.try_get("secret_key")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                    site: r.try_get("site")?,
                };
                if !primary {
                    continue;
                }
                // The row exists, so publish without the check (the projection keeps it).
                ts.append_published(
                    "system:adoption",
                    &key.key_id,
                    &key.public_key,
                    key.site.as_deref(),
                    Some((key.created_at, key.retired_at)),
                )
                .await?;
                if !key.secret_key.is_empty() {
                    self.seal_signing_key(
                        "system:adoption",
                        &t.code,
                        &key.key_id,
                        &key.public_key,
                        key.site.as_deref(),
                        &key.secret_key,
                    )
                    .await?;
                }
            }
            let mut tx = ts.begin(true).await?;
            sqlx::query("UPDATE signing_keys SET secret_key = $2 WHERE tenant_code = $1")
                .bind(t.code.as_str())
                .bind(&[] as &[u8])
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            if !rows.is_empty() {
                tracing::info!(tenant = %t.code, keys = rows.len(), primary,
                    "signing keys are now ledger entries; their secrets sealed in the platform's chain");
            }
        }
        self.set_meta_flag(KEYS_ADOPTED).await
    }
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
