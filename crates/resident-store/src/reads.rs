//! The register's queries on its read models.

use async_trait::async_trait;
use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::{Entry, EventCodec};
use murakumo_resident::{Record, ResidentEvent, normalize_kana, normalize_name};
use murakumo_store::sql::{ENTRY_COLUMNS, date_str, entry_from_row};
use murakumo_store::{StoreError, TenantStore};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Conditions of a resident search; see [`ResidentReads::search_residents`].
#[derive(Clone, Debug, Default)]
pub struct ResidentQuery {
    pub kana: Option<String>,
    pub name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub address: Option<String>,
    /// 宛名番号, exactly (the number the other business systems know the person by).
    pub addressee_number: Option<String>,
    pub include_removed: bool,
    pub limit: u32,
}

/// The register's reads, on a tenant's store (`use murakumo_resident_store::ResidentReads`).
/// Each runs in one read transaction scoped to the tenant.
#[async_trait]
pub trait ResidentReads: Sync {
    /// The tenant's store the reads run on.
    fn tenant_store(&self) -> &TenantStore<'_>;

    /// Whether any resident (current or 除票) is in the register.
    async fn has_residents(&self) -> Result<bool, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let row = sqlx::query("SELECT 1 FROM residents WHERE tenant_code = $1 LIMIT 1")
            .bind(self.tenant_store().code().as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    /// A resident's current record (also a 除票).
    async fn resident(&self, resident_code: &str) -> Result<Option<Record>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let row = sqlx::query(
            "SELECT record FROM residents WHERE tenant_code = $1 AND resident_code = $2",
        )
        .bind(self.tenant_store().code().as_str())
        .bind(resident_code)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| record_from_row(self.tenant_store().code(), &r))
            .transpose()
    }

    /// Every ledger event of one resident, in ledger order: 異動履歴, and
    /// the input of as-of replay.
    async fn resident_events(
        &self,
        resident_code: &str,
    ) -> Result<Vec<(Entry, ResidentEvent)>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM ledger_entries l JOIN resident_entries r \
             ON r.tenant_code = l.tenant_code AND r.seq = l.seq \
             WHERE r.tenant_code = $1 AND r.resident_code = $2 ORDER BY r.seq",
            ENTRY_COLUMNS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(self.tenant_store().code().as_str())
        .bind(resident_code)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .filter_map(|row| {
                let e = match entry_from_row(self.tenant_store().code(), row) {
                    Ok(e) => e,
                    Err(err) => return Some(Err(err)),
                };
                match ResidentEvent::decode(&e.kind, e.version, &e.payload) {
                    Ok(Some(ev)) => Some(Ok((e, ev))),
                    Ok(None) => None,
                    Err(err) => Some(Err(err.into())),
                }
            })
            .collect()
    }

    /// The record as it stood on `as_of` (bitemporal: by 異動日).
    async fn resident_as_of(
        &self,
        resident_code: &str,
        as_of: NaiveDate,
    ) -> Result<Option<Record>, StoreError> {
        let events = self.resident_events(resident_code).await?;
        murakumo_resident::replay(events.iter().map(|(e, ev)| (ev, e.effective_date)), as_of)
            .map_err(|e| StoreError::Conflict(e.to_string()))
    }

    /// Searches by the start of the kana name, the start of the kanji name
    /// (異体字 folded), birth date, the start of the address; conditions
    /// combine with AND. 除票 only when asked.
    async fn search_residents(&self, q: &ResidentQuery) -> Result<Vec<Record>, StoreError> {
        self.search_residents_where(q, |_| true).await
    }

    /// [`ResidentReads::search_residents`], keeping only the records `keep`
    /// admits, and still up to `q.limit` of them: people left out (e.g.
    /// under 支援措置) do not shorten the list, so its length does not give
    /// them away.
    async fn search_residents_where(
        &self,
        q: &ResidentQuery,
        keep: impl for<'r> Fn(&'r Record) -> bool + Send,
    ) -> Result<Vec<Record>, StoreError> {
        let mut sql = String::from("SELECT record FROM residents WHERE tenant_code = $1");
        let mut args: Vec<String> = vec![self.tenant_store().code().as_str().to_string()];
        let mut range = |column: &str, prefix: String, sql: &mut String| {
            args.push(prefix.clone());
            args.push(format!("{prefix}\u{10FFFF}"));
            sql.push_str(&format!(
                " AND {column} >= ${} AND {column} < ${}",
                args.len() - 1,
                args.len()
            ));
        };
        let kana = q
            .kana
            .as_deref()
            .map(normalize_kana)
            .filter(|k| !k.is_empty());
        let by_kana = kana.is_some();
        let mut selective = q.birth_date.is_some();
        if let Some(k) = kana {
            range("search_kana", k, &mut sql);
        }
        if let Some(n) = q
            .name
            .as_deref()
            .map(normalize_name)
            .filter(|n| !n.is_empty())
        {
            range("search_name", n, &mut sql);
            selective = true;
        }
        if let Some(a) = q
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            if murakumo_core::Prefecture::starting(a).is_some() {
                // A whole address from its beginning: a prefix, on the index.
                range("address", a.to_string(), &mut sql);
            } else {
                // A part of one, as clerks type a 町字 and 番地 ("3条3番"): anywhere in it.
                let escaped = a
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                args.push(format!("%{escaped}%"));
                sql.push_str(&format!(" AND address LIKE ${} ESCAPE '\\'", args.len()));
            }
            selective = true;
        }
        if let Some(d) = q.birth_date {
            args.push(date_str(d));
            sql.push_str(&format!(" AND birth_date = ${}", args.len()));
        }
        if let Some(n) = q
            .addressee_number
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            args.push(n.to_string());
            sql.push_str(&format!(" AND addressee_number = ${}", args.len()));
            selective = true;
        }
        if !q.include_removed {
            sql.push_str(" AND status <> 'removed'");
        }
        // Results are in kana order. Without a kana condition but with a
        // selective one (birth date, name, address), `|| ''` keeps the
        // planner from walking the kana index to avoid the sort: SQLite
        // without statistics did exactly that, reading a 270,000-resident
        // tenant whole for a birth-date search (> 0.5 s) instead of the
        // handful of rows the birth-date index finds.
        let order = if by_kana || !selective {
            "search_kana"
        } else {
            "search_kana || ''"
        };
        // resident_code is unique, so the order is total and pages do not
        // overlap.
        sql.push_str(&format!(" ORDER BY {order}, resident_code"));
        let limit = q.limit.clamp(1, 1000) as usize;
        let mut found = Vec::new();
        let mut tx = self.tenant_store().begin(false).await?;
        let mut offset = 0;
        loop {
            let page = format!("{sql} LIMIT {limit} OFFSET {offset}");
            let mut query = sqlx::query(&page);
            for a in &args {
                query = query.bind(a.as_str());
            }
            let rows = query.fetch_all(&mut *tx).await?;
            for row in &rows {
                let record = record_from_row(self.tenant_store().code(), row)?;
                if keep(&record) && found.len() < limit {
                    found.push(record);
                }
            }
            if rows.len() < limit || found.len() >= limit {
                break;
            }
            offset += limit;
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Residents (not removed) whose address begins with `prefix` (from its 都道府県: a range
    /// on the address index), in address order and by household: at most `limit`.
    async fn residents_at(&self, prefix: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let upper = format!("{prefix}\u{10FFFF}");
        records_where(
            self.tenant_store(),
            &format!(
                "address >= $2 AND address < $3 AND status <> 'removed' \
                 ORDER BY address, household_id, resident_code LIMIT {limit}"
            ),
            &[prefix, &upper],
        )
        .await
    }

    /// Residents (not removed) whose 支援措置 ends between `from` and `to`, both included,
    /// soonest first: whom to ask whether to extend (標準仕様書 §3.4/M3).
    async fn protections_ending(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Record>, StoreError> {
        records_where(
            self.tenant_store(),
            "protected_until >= $2 AND protected_until <= $3 AND status <> 'removed' \
             ORDER BY protected_until, resident_code",
            &[&date_str(from), &date_str(to)],
        )
        .await
    }

    /// Current members of a household (世帯), head first.
    async fn household(&self, household_id: &str) -> Result<Vec<Record>, StoreError> {
        let mut members = records_where(
            self.tenant_store(),
            "household_id = $2 AND status <> 'removed' ORDER BY resident_code",
            &[household_id],
        )
        .await?;
        members.sort_by_key(|r| (r.relationship != "世帯主", r.person.birth_date));
        Ok(members)
    }

    /// Members removed from the register while in this household (転出, 死亡, 職権消除:
    /// their 除票 name it), for the household screen (標準仕様書 §3.3).
    async fn removed_household_members(
        &self,
        household_id: &str,
    ) -> Result<Vec<Record>, StoreError> {
        records_where(
            self.tenant_store(),
            "household_id = $2 AND status = 'removed' ORDER BY resident_code",
            &[household_id],
        )
        .await
    }

    /// Everyone whose record names this household, 除票 included, and everyone who left it for
    /// another household: the candidates for reading a household as of a past date (their
    /// records are as last recorded; replay each as of the date).
    async fn household_records(&self, household_id: &str) -> Result<Vec<Record>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let rows = sqlx::query(
            // Two indexed reads (the household index, and the former members by primary key).
            "SELECT resident_code, record FROM residents WHERE tenant_code = $1 AND household_id = $2 \
             UNION SELECT r.resident_code, r.record FROM former_household_members f JOIN residents r \
             ON r.tenant_code = f.tenant_code AND r.resident_code = f.resident_code \
             WHERE f.tenant_code = $1 AND f.household_id = $2 ORDER BY resident_code",
        )
        .bind(self.tenant_store().code().as_str())
        .bind(household_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| record_from_row(self.tenant_store().code(), r))
            .collect()
    }

    /// The highest 世帯番号 of the system's series (ten digits) this
    /// municipality has used, 除票 included, so a number is never given
    /// twice; a new household takes the next one
    /// (`murakumo_resident::next_household_id`).
    /// The highest 住民票コード recorded here (current or 除票) whose ten leading digits lie in
    /// `first..=last` (ten digits each).
    async fn highest_resident_code_in(
        &self,
        first: &str,
        last: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        // Eleven-digit codes order as their ten leading digits do.
        let row = sqlx::query(
            "SELECT MAX(resident_code) AS code FROM residents WHERE tenant_code = $1 \
             AND resident_code >= $2 AND resident_code <= $3",
        )
        .bind(self.tenant_store().code().as_str())
        .bind(format!("{first}0"))
        .bind(format!("{last}9"))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.try_get::<Option<String>, _>("code")?)
    }

    /// The highest 宛名番号 given in this municipality (current or 除票), if any: the next
    /// one follows it (`murakumo_resident::next_addressee_number`).
    async fn highest_addressee_number(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        // Fifteen digits each: the greatest string is the greatest number.
        let row = sqlx::query(
            "SELECT MAX(addressee_number) AS number FROM residents WHERE tenant_code = $1",
        )
        .bind(self.tenant_store().code().as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.try_get::<Option<String>, _>("number")?)
    }

    async fn highest_household_id(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        // Ten-character ids between the smallest and largest ten-digit
        // number, highest first (by the household index); the first that is
        // all digits is the highest number.
        let rows = sqlx::query(
            "SELECT DISTINCT household_id FROM residents WHERE tenant_code = $1 \
             AND household_id >= '0000000000' AND household_id <= '9999999999' \
             AND length(household_id) = 10 ORDER BY household_id DESC LIMIT 100",
        )
        .bind(self.tenant_store().code().as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        for row in &rows {
            let id: String = row.try_get("household_id")?;
            if murakumo_resident::is_series_household_id(&id) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Residents currently registered (not 除票).
    async fn count_residents(&self) -> Result<u64, StoreError> {
        let mut tx = self.tenant_store().begin(false).await?;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM residents WHERE tenant_code = $1 AND status <> 'removed'",
        )
        .bind(self.tenant_store().code().as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        tx.commit().await?;
        Ok(n as u64)
    }
}

impl ResidentReads for TenantStore<'_> {
    fn tenant_store(&self) -> &TenantStore<'_> {
        self
    }
}

/// The records of the tenant's residents that match `condition` (SQL after
/// `WHERE tenant_code = $1 AND`, with `$2`… for `args`, and its ORDER BY), in one read
/// transaction.
async fn records_where(
    ts: &TenantStore<'_>,
    condition: &str,
    args: &[&str],
) -> Result<Vec<Record>, StoreError> {
    let sql = format!("SELECT record FROM residents WHERE tenant_code = $1 AND {condition}");
    let mut tx = ts.begin(false).await?;
    let mut query = sqlx::query(&sql).bind(ts.code().as_str());
    for a in args {
        query = query.bind(*a);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    rows.iter().map(|r| record_from_row(ts.code(), r)).collect()
}

fn record_from_row(tenant: &TenantCode, r: &AnyRow) -> Result<Record, StoreError> {
    murakumo_store::sql::record_column(tenant, r, "resident record")
}
