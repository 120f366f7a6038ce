//! The tenant-scoped handle: everything of one municipality.

use chrono::NaiveDate;
use murakumo_core::TenantCode;
use murakumo_ledger::{
    ChainHash, ChainHead, ChainVerifier, Entry, LedgerOwner, NewEntry, RecordedAt,
};
use murakumo_tenancy::{AccessRecord, Staff, parse_roles};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::backend::{BackendKind, Scope};
use crate::group::{self, Write, Written};
use crate::projection::{Start, System};
use crate::rows::{ENTRY_COLUMNS, date_str, entry_from_row, insert_verb, parse_date, values_list};
use crate::{AccessFilter, AccessLogRow, Chain, SettingChange, Store, StoreError, projection};

/// All access to one tenant's data goes through this handle; every query it
/// runs names the tenant.
pub struct TenantStore<'a> {
    pub(crate) store: &'a Store,
    pub(crate) tenant: TenantCode,
}

/// A server-side session of a staff member.
#[derive(Clone, Debug)]
pub struct SessionRow {
    pub staff_id: String,
    pub created_at: i64,
    pub last_seen: i64,
    /// An import (移行) is under way in the tenant: its staff must wait ([`ImportMark`]).
    pub importing: bool,
}

/// 128 random bits in hex: outbox keys of access records made off-primary.
fn random_key() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Rows per multi-row INSERT: well under both backends' parameter limits.
const INSERT_BATCH: usize = 500;
/// Ledger entries read per query when projections are rebuilt.
pub const REBUILD_PAGE: u64 = 20_000;

impl TenantStore<'_> {
    pub fn code(&self) -> &TenantCode {
        &self.tenant
    }

    /// A transaction scoped to this tenant (on PostgreSQL, row-level security admits only its
    /// rows). Business systems use it to read their own read models (`write` = false); their
    /// writes go through the ledger and their [`crate::Projection`], never around it.
    pub async fn begin(&self, write: bool) -> Result<Transaction<'static, Any>, StoreError> {
        self.store
            .backend
            .begin(&self.store.pool, Scope::Tenant(&self.tenant), write)
            .await
    }

    pub async fn exists(&self) -> Result<bool, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query("SELECT 1 FROM tenants WHERE tenant_code = $1")
            .bind(self.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    /// The head of a chain as readers see it: while an import is under way, the ledger's head
    /// before it ([`ImportMark::start`]).
    pub async fn head(&self, chain: Chain) -> Result<ChainHead, StoreError> {
        let mut tx = self.begin(false).await?;
        let head = read_head(&mut tx, &self.tenant, chain).await?;
        let mark = match chain {
            Chain::Ledger => read_mark(&mut tx, &self.tenant).await?,
            Chain::Access => None,
        };
        tx.commit().await?;
        match mark {
            Some(m) => Ok(m.start),
            None => head.ok_or_else(|| StoreError::TenantNotFound(self.tenant)),
        }
    }

    /// Appends domain events to the ledger and projects them, atomically.
    /// Returns the sealed entries once committed (durable).
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<Entry>, StoreError> {
        if entries.is_empty() {
            return Ok(vec![]);
        }
        let (ledger, _) = self
            .write(Write::Append {
                ledger: entries,
                access: None,
                checked_at: None,
            })
            .await?
            .appended()?;
        Ok(ledger)
    }

    /// Appends a change that was checked against the register as it stood at ledger entry
    /// `checked_at` (read with [`TenantStore::head`] before the records it was checked
    /// against), with its access-log records, in one transaction. Refused with
    /// [`StoreError::LedgerMoved`], and nothing written, when anything was appended to the
    /// ledger since: the check is then as good as one made inside the write transaction,
    /// whichever node or request appended in between.
    pub async fn append_checked(
        &self,
        entries: Vec<NewEntry>,
        checked_at: u64,
        actor: &str,
        access: &[AccessRecord],
    ) -> Result<Vec<Entry>, StoreError> {
        let (ledger, _) = self
            .write(Write::Append {
                ledger: entries,
                access: Some((actor.to_string(), access.to_vec())),
                checked_at: Some(checked_at),
            })
            .await?
            .appended()?;
        Ok(ledger)
    }

    /// Appends a bulk import (移行) in transactions of at most `chunk` entries, so that other
    /// tenants' writes wait at most one chunk (see docs/design/tenant-isolation.md), while
    /// readers still see it all or nothing:
    ///
    /// - The first chunk's transaction marks the tenant *importing* ([`ImportMark`]): until the chunk
    ///   with the last entries commits and deletes the mark, the tenant's ledger is seen only
    ///   up to the mark's start ([`Self::head`], [`Self::read_after`]: so backup, replication
    ///   and export too), and its staff are turned away ([`SessionRow::importing`]).
    /// - After a crash (kill -9), the same call with the same `digest` and entries resumes
    ///   after the last committed chunk; an unfinished import of another data set is refused.
    ///
    /// `progress` is told (entries written, entries in all) after each chunk.
    pub async fn import(
        &self,
        digest: &str,
        entries: Vec<NewEntry>,
        chunk: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ChainHead, StoreError> {
        let total = entries.len() as u64;
        // The first chunk goes in the transaction that reads the head and the mark, and writes
        // the mark: an import that fails in its first chunk leaves nothing.
        let mut tx = self.begin(true).await?;
        let head = read_head(&mut tx, &self.tenant, Chain::Ledger)
            .await?
            .ok_or(StoreError::TenantNotFound(self.tenant))?;
        let (start, run, mut mark_to_write) = match read_mark(&mut tx, &self.tenant).await? {
            None => (head.seq, Start::Bulk, true),
            // Resumed: records of the chunks already written are looked up, not inserted.
            Some(m) if m.digest == digest && m.entries == total => {
                (m.start.seq, Start::Append, false)
            }
            Some(m) => {
                return Err(StoreError::Conflict(format!(
                    "an import of another data set (digest {}, {} entries) is unfinished in {}: \
                     run that import again to finish it",
                    m.digest, m.entries, self.tenant
                )));
            }
        };
        let mut done = head.seq - start;
        if done > total {
            return Err(StoreError::Corrupt {
                owner: self.tenant.into(),
                seq: head.seq,
                reason: format!(
                    "the ledger holds {done} entries since the import began, more than its {total}"
                ),
            });
        }
        progress(done, total);
        // On SQLite another tenant's write waits for the whole chunk being written.
        let chunk = match self.store.backend.kind() {
            BackendKind::Sqlite => chunk.min(SQLITE_IMPORT_CHUNK),
            BackendKind::Postgres => chunk,
        }
        .max(1);
        let mut rest = entries.into_iter().skip(done as usize).peekable();
        let mut projector = projection::Projector::new(&self.store.systems, run);
        let mut first = Some(tx);
        loop {
            let batch: Vec<NewEntry> = rest.by_ref().take(chunk).collect();
            let last = rest.peek().is_none();
            let n = batch.len() as u64;
            let mut tx = match first.take() {
                Some(tx) => tx,
                None => self.begin(true).await?,
            };
            if mark_to_write && !last {
                sqlx::query(
                    "INSERT INTO tenant_imports (tenant_code, digest, start_seq, start_hash, entries, started_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(self.tenant.as_str())
                .bind(digest)
                .bind(head.seq as i64)
                .bind(head.hash.0.to_vec())
                .bind(total as i64)
                .bind(chrono::Utc::now().timestamp_micros())
                .execute(&mut *tx)
                .await?;
                mark_to_write = false;
            }
            if !batch.is_empty() {
                let sealed = append_in(&mut tx, &self.tenant, Chain::Ledger, batch).await?;
                projector.apply(&mut tx, &self.tenant, &sealed).await?;
            }
            if last {
                sqlx::query("DELETE FROM tenant_imports WHERE tenant_code = $1")
                    .bind(self.tenant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let head = read_head(&mut tx, &self.tenant, Chain::Ledger)
                .await?
                .ok_or(StoreError::TenantNotFound(self.tenant))?;
            tx.commit().await?;
            done += n;
            progress(done, total);
            if last {
                return Ok(head);
            }
            // Writers of another process (an import runs as `murakumo import` beside the
            // server) poll for SQLite's one write lock, up to 100 ms apart: leave them a gap
            // to take it, or the next chunk would win every time. (Writers of this process
            // queue for the backend's one write connection and are served in turn.)
            if self.store.backend.kind() == BackendKind::Sqlite {
                tokio::time::sleep(IMPORT_GAP).await;
            }
        }
    }

    /// The import under way in this tenant, if any (see [`Self::import`]).
    pub async fn import_mark(&self) -> Result<Option<ImportMark>, StoreError> {
        let mut tx = self.begin(false).await?;
        let mark = read_mark(&mut tx, &self.tenant).await?;
        tx.commit().await?;
        Ok(mark)
    }

    /// Ledger entries of one kind, in order (e.g. `migration.imported`).
    pub async fn entries_of_kind(&self, kind: &str) -> Result<Vec<Entry>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE tenant_code = $1 AND kind = $2 ORDER BY seq"
        ))
        .bind(self.tenant.as_str())
        .bind(kind)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| entry_from_row(self.tenant, r))
            .collect()
    }

    /// Records accesses to personal data in the access log chain.
    pub async fn log_access(
        &self,
        actor: &str,
        records: &[AccessRecord],
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let written = self
            .write(Write::Append {
                ledger: vec![],
                access: Some((actor.to_string(), records.to_vec())),
                checked_at: None,
            })
            .await;
        match written {
            Err(StoreError::NotPrimary { .. }) => {
                // A replica or fallback node: the access chain is the
                // primary's; reads here are logged in the outbox and
                // replayed to it.
                let today = murakumo_core::today_in_japan();
                for r in records {
                    let key = format!("access:{}", random_key());
                    self.outbox_push(Chain::Access, &key, &r.to_entry(actor, today))
                        .await?;
                }
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Runs one write and returns once it is committed: through the group
    /// committer on SQLite (sharing a transaction and its fsync with the
    /// writes waiting beside it), in a transaction of its own on
    /// PostgreSQL. Tells the replication watchers what was committed.
    pub(crate) async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let written = if let Some(group) = &self.store.group {
            group.run(self.tenant, write).await?
        } else {
            let mut tx = self.begin(true).await?;
            let written = group::run_one(&mut tx, &self.store.systems, &self.tenant, write).await?;
            tx.commit().await?;
            written
        };
        if let Written::Appended { ledger, access } = &written {
            self.committed(Chain::Ledger, ledger);
            self.committed(Chain::Access, access);
        }
        Ok(written)
    }

    fn committed(&self, chain: Chain, sealed: &[Entry]) {
        if let Some(last) = sealed.last() {
            self.store
                .appended
                .committed(self.tenant, chain, last.seq, last.recorded_at.0);
        }
    }

    /// Entries with `seq > after`, at most `limit`, in order; up to the [`Self::head`] readers
    /// see (an import under way is not read).
    pub async fn read_after(
        &self,
        chain: Chain,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        let visible = match chain {
            Chain::Ledger => {
                " AND NOT EXISTS (SELECT 1 FROM tenant_imports i WHERE i.tenant_code = $1 AND seq > i.start_seq)"
            }
            Chain::Access => "",
        };
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM {} WHERE tenant_code = $1 AND seq > $2{visible} ORDER BY seq LIMIT $3",
            chain.table()
        ))
        .bind(self.tenant.as_str())
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| entry_from_row(self.tenant, r))
            .collect()
    }

    /// Verifies a whole chain against its recorded head, streaming it in
    /// pages, and says where the first break is. Appends running meanwhile
    /// are fine: the chain is checked up to the head read at the start.
    pub async fn verify(&self, chain: Chain) -> Result<ChainHead, StoreError> {
        let head = self.head(chain).await?;
        verify_pages(self.store, self.tenant.into(), chain, head, |after| {
            self.read_after(chain, after, VERIFY_PAGE)
        })
        .await
    }

    /// Drops this tenant's projections and rebuilds them from its ledger.
    /// Returns the number of entries replayed.
    pub async fn rebuild_projections(&self) -> Result<u64, StoreError> {
        self.rebuild_projections_paged(REBUILD_PAGE).await
    }

    /// [`TenantStore::rebuild_projections`], reading the ledger `page`
    /// entries at a time: tests rebuild ledgers of many pages without
    /// writing [`REBUILD_PAGE`] entries.
    #[doc(hidden)]
    pub async fn rebuild_projections_paged(&self, page: u64) -> Result<u64, StoreError> {
        let mut tx = self.begin(true).await?;
        for p in self.store.systems.all() {
            projection::clear(&mut tx, &self.tenant, p).await?;
        }
        self.replay(
            tx,
            projection::Projector::new(&self.store.systems, Start::Rebuild),
            page,
        )
        .await
    }

    /// Rebuilds one system's read models from the ledger (its projection version changed).
    /// Holds the ledger head's lock meanwhile: this tenant's appends wait, so that none is
    /// projected twice or missed; other tenants and other systems' reads go on.
    pub async fn rebuild_system(&self, system: System) -> Result<u64, StoreError> {
        let projection = self.store.systems.get(system).ok_or_else(|| {
            StoreError::Conflict(format!(
                "the system {:?} is not one this store projects",
                system.name()
            ))
        })?;
        let mut tx = self.begin(true).await?;
        lock_head(&mut tx, self.tenant.into(), Chain::Ledger).await?;
        projection::clear(&mut tx, &self.tenant, projection).await?;
        self.replay(
            tx,
            projection::Projector::rebuilding(projection),
            REBUILD_PAGE,
        )
        .await
    }

    /// Replays the whole ledger through `projector` in `tx`, `page` entries at a time, and
    /// commits; returns the number of entries replayed.
    async fn replay(
        &self,
        mut tx: Transaction<'static, Any>,
        mut projector: projection::Projector,
        page: u64,
    ) -> Result<u64, StoreError> {
        let mut after = 0u64;
        loop {
            let page = ledger_page_in(&mut tx, self.tenant.into(), after, page).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            projector.apply(&mut tx, &self.tenant, &page).await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    // ---- settings ----

    /// Municipal (個別) setting values in force on `date`, from their history (a value is in
    /// force from its 適用開始日, the entry's effective date, until a later one; see
    /// [`murakumo_tenancy::settings::in_force`]), in key order.
    pub async fn municipal_settings_on(
        &self,
        date: NaiveDate,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let history = self.setting_history(None).await?;
        let in_force = murakumo_tenancy::settings::in_force(
            history
                .iter()
                .map(|c| murakumo_tenancy::settings::DatedValue {
                    key: &c.key,
                    value: c.value.as_deref(),
                    from: c.effective_date,
                }),
            date,
        );
        let mut values: Vec<(String, String)> = in_force
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        values.sort();
        Ok(values)
    }

    pub async fn setting_history(
        &self,
        key: Option<&str>,
    ) -> Result<Vec<SettingChange>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT seq, key, value, reason, actor, effective_date, recorded_at FROM setting_history \
             WHERE tenant_code = $1 AND ($2 = '' OR key = $2) ORDER BY seq",
        )
        .bind(self.tenant.as_str())
        .bind(key.unwrap_or(""))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let date: String = r.try_get("effective_date")?;
                Ok(SettingChange {
                    seq: r.try_get::<i64, _>("seq")? as u64,
                    key: r.try_get("key")?,
                    value: r.try_get("value")?,
                    reason: r.try_get("reason")?,
                    actor: r.try_get("actor")?,
                    effective_date: parse_date(&date).unwrap_or_default(),
                    recorded_at: RecordedAt(r.try_get("recorded_at")?).to_datetime(),
                })
            })
            .collect()
    }

    // ---- staff ----

    pub async fn staff_list(&self) -> Result<Vec<Staff>, StoreError> {
        let mut tx = self.begin(false).await?;
        let rows = sqlx::query(
            "SELECT staff_id, login, display_name, roles, disabled FROM staff WHERE tenant_code = $1 ORDER BY login",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// A staff account and its password hash, by login id.
    pub async fn staff_for_login(
        &self,
        login: &str,
    ) -> Result<Option<(Staff, String)>, StoreError> {
        self.staff_where("login", login).await
    }

    pub async fn staff_by_id(&self, staff_id: &str) -> Result<Option<Staff>, StoreError> {
        Ok(self
            .staff_where("staff_id", staff_id)
            .await?
            .map(|(s, _)| s))
    }

    async fn staff_where(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<(Staff, String)>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(&format!(
            "SELECT staff_id, login, display_name, roles, disabled, password_hash FROM staff \
             WHERE tenant_code = $1 AND {column} = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| Ok((staff_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    // ---- sessions (login throttling: login.rs) ----

    pub async fn create_session(
        &self,
        token_hash: &[u8],
        staff_id: &str,
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
        tx.commit().await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &[u8]) -> Result<Option<SessionRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let row = sqlx::query(
            "SELECT staff_id, created_at, last_seen, \
                    (SELECT COUNT(*) FROM tenant_imports i WHERE i.tenant_code = $1) AS importing \
             FROM sessions WHERE tenant_code = $1 AND token_hash = $2",
        )
        .bind(self.tenant.as_str())
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(SessionRow {
                staff_id: r.try_get("staff_id")?,
                created_at: r.try_get("created_at")?,
                last_seen: r.try_get("last_seen")?,
                importing: r.try_get::<i64, _>("importing")? > 0,
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
        self.exec_write(
            "UPDATE sessions SET last_seen = $3 WHERE tenant_code = $1 AND token_hash = $2",
            token_hash,
            Some(now),
        )
        .await
    }

    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.exec_write(
            "DELETE FROM sessions WHERE tenant_code = $1 AND token_hash = $2",
            token_hash,
            None,
        )
        .await
    }

    async fn exec_write(
        &self,
        sql: &str,
        token_hash: &[u8],
        now: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(true).await?;
        let mut q = sqlx::query(sql).bind(self.tenant.as_str()).bind(token_hash);
        if let Some(now) = now {
            q = q.bind(now);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- access log ----

    pub async fn search_access_log(
        &self,
        f: &AccessFilter,
    ) -> Result<Vec<AccessLogRow>, StoreError> {
        let mut tx = self.begin(false).await?;
        let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM access_entries WHERE tenant_code = $1");
        let mut texts: Vec<String> = Vec::new();
        for (column, value) in [
            ("actor", &f.actor),
            ("subject", &f.subject),
            ("action", &f.action),
        ] {
            if let Some(v) = value {
                texts.push(v.clone());
                sql.push_str(&format!(" AND {column} = ${}", texts.len() + 1));
            }
        }
        if let Some(prefix) = &f.subject_prefix {
            texts.push(prefix.clone());
            texts.push(format!("{prefix}\u{10FFFF}"));
            sql.push_str(&format!(
                " AND subject >= ${} AND subject < ${}",
                texts.len(),
                texts.len() + 1
            ));
        }
        let n = texts.len() + 1;
        sql.push_str(&format!(
            " AND recorded_at >= ${} AND recorded_at < ${} ORDER BY seq DESC LIMIT ${}",
            n + 1,
            n + 2,
            n + 3
        ));
        let mut q = sqlx::query(&sql).bind(self.tenant.as_str());
        for t in &texts {
            q = q.bind(t.as_str());
        }
        let q = q
            .bind(f.from.map_or(i64::MIN, |t| t.timestamp_micros()))
            .bind(f.to.map_or(i64::MAX, |t| t.timestamp_micros()))
            .bind(i64::from(f.limit.clamp(1, 10_000)));
        let rows = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let e = entry_from_row(self.tenant, row)?;
                let r = match AccessRecord::from_payload(e.version, &e.payload) {
                    Ok(r) => r,
                    // One record that cannot be read must not hide the rest:
                    // it is shown as unreadable, in its place, and logged.
                    Err(why) => {
                        tracing::warn!(tenant = %self.tenant, seq = e.seq, error = %why,
                            "an access-log record cannot be read; shown as unreadable");
                        return Ok(AccessLogRow::unreadable(&e, &why.to_string()));
                    }
                };
                Ok(AccessLogRow {
                    seq: e.seq,
                    recorded_at: e.recorded_at.to_datetime(),
                    actor: e.actor,
                    action: r.action.code().to_string(),
                    subject: r.subject,
                    purpose: r.purpose,
                    detail: r.detail,
                    request_id: r.request_id,
                })
            })
            .collect()
    }
}

fn staff_from_row(r: &AnyRow) -> Result<Staff, StoreError> {
    let roles: String = r.try_get("roles")?;
    Ok(Staff {
        staff_id: r.try_get("staff_id")?,
        login: r.try_get("login")?,
        display_name: r.try_get("display_name")?,
        // A role this build does not know is dropped, never widened.
        roles: parse_roles(&roles).unwrap_or_default(),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

/// An import under way (移行), written in bounded chunks: see [`TenantStore::import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportMark {
    /// The data set's content digest: only the same data set resumes the import.
    pub digest: String,
    /// The ledger's head before the import: all that readers see until it completes.
    pub start: ChainHead,
    /// The entries the import appends in all.
    pub entries: u64,
}

/// Entries per transaction of an import: a chunk commits in well under a second, which is the
/// longest another tenant's write waits for it on SQLite.
pub const IMPORT_CHUNK: usize = 5_000;

/// At most this many entries per import transaction on SQLite, where the chunk holds the
/// database's one write lock (about 0.1 s for a 270,000-resident city's entries).
const SQLITE_IMPORT_CHUNK: usize = 2_000;

/// The pause between two chunks of an import on SQLite (see [`TenantStore::import`]).
const IMPORT_GAP: std::time::Duration = std::time::Duration::from_millis(120);

async fn read_mark(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantCode,
) -> Result<Option<ImportMark>, StoreError> {
    let row = sqlx::query(
        "SELECT digest, start_seq, start_hash, entries FROM tenant_imports WHERE tenant_code = $1",
    )
    .bind(tenant.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        let seq: i64 = r.try_get("start_seq")?;
        let hash: Vec<u8> = r.try_get("start_hash")?;
        let entries: i64 = r.try_get("entries")?;
        Ok(ImportMark {
            digest: r.try_get("digest")?,
            start: ChainHead {
                seq: seq as u64,
                hash: ChainHash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
                    owner: (*tenant).into(),
                    seq: seq as u64,
                    reason: "the import mark's head hash is not 32 bytes".into(),
                })?,
            },
            entries: entries as u64,
        })
    })
    .transpose()
}

/// Entries read per query when a chain is verified.
const VERIFY_PAGE: u32 = 10_000;

/// Checks a chain of `owner` from its first entry against `head`, reading it with
/// `read_after` a page at a time, and then that no row lies beyond the recorded head (inserted
/// behind the chain's back).
pub(crate) async fn verify_pages<F, Fut>(
    store: &Store,
    owner: LedgerOwner,
    chain: Chain,
    head: ChainHead,
    mut read_after: F,
) -> Result<ChainHead, StoreError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Entry>, StoreError>>,
{
    let broken = |source| StoreError::Chain {
        owner,
        chain: chain.name(),
        source,
    };
    let mut verifier = ChainVerifier::new(owner, ChainHead::EMPTY);
    let mut after = 0;
    while after < head.seq {
        let page = read_after(after).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page.iter().take_while(|e| e.seq <= head.seq) {
            verifier.push(e).map_err(broken)?;
        }
    }
    verifier.finish(head).map_err(broken)?;
    // The head and the rows are read in one statement, one snapshot.
    let mut tx = store
        .backend
        .begin(&store.pool, Scope::of(&owner), false)
        .await?;
    let row = sqlx::query(&format!(
        "SELECT (SELECT seq FROM chain_heads WHERE tenant_code = $1 AND chain = $2) AS head, \
                (SELECT MAX(seq) FROM {} WHERE tenant_code = $1) AS top",
        chain.table()
    ))
    .bind(owner.as_str())
    .bind(chain.name())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let (now_head, top): (Option<i64>, Option<i64>) = (row.try_get("head")?, row.try_get("top")?);
    if top > now_head {
        return Err(broken(murakumo_ledger::ChainBreak::HeadMismatch {
            head_seq: now_head.unwrap_or(0) as u64,
            found_seq: top.unwrap_or(0) as u64,
        }));
    }
    Ok(head)
}

/// Up to `page` ledger entries of `owner` after `after`, in order, inside `tx` (a rebuild's).
pub(crate) async fn ledger_page_in(
    tx: &mut Transaction<'static, Any>,
    owner: LedgerOwner,
    after: u64,
    page: u64,
) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE tenant_code = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(owner.as_str())
    .bind(after as i64)
    .bind(page.max(1) as i64)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(|r| entry_from_row(owner, r)).collect()
}

pub(crate) async fn read_head(
    tx: &mut Transaction<'static, Any>,
    owner: impl Into<LedgerOwner>,
    chain: Chain,
) -> Result<Option<ChainHead>, StoreError> {
    let owner = owner.into();
    let row =
        sqlx::query("SELECT seq, hash FROM chain_heads WHERE tenant_code = $1 AND chain = $2")
            .bind(owner.as_str())
            .bind(chain.name())
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|r| {
        let seq: i64 = r.try_get("seq")?;
        let hash: Vec<u8> = r.try_get("hash")?;
        let hash = ChainHash::from_slice(&hash).ok_or_else(|| StoreError::Corrupt {
            owner,
            seq: seq as u64,
            reason: "chain head hash is not 32 bytes".into(),
        })?;
        Ok(ChainHead {
            seq: seq as u64,
            hash,
        })
    })
    .transpose()
}

/// Locks the head row of `owner`'s `chain` for the rest of `tx` — appenders on any node, and
/// a rebuild, queue here — and reads it.
pub(crate) async fn lock_head(
    tx: &mut Transaction<'static, Any>,
    owner: LedgerOwner,
    chain: Chain,
) -> Result<ChainHead, StoreError> {
    let locked =
        sqlx::query("UPDATE chain_heads SET seq = seq WHERE tenant_code = $1 AND chain = $2")
            .bind(owner.as_str())
            .bind(chain.name())
            .execute(&mut **tx)
            .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::chain_missing(owner));
    }
    read_head(tx, owner, chain)
        .await?
        .ok_or_else(|| StoreError::chain_missing(owner))
}

/// Seals and inserts entries at the end of a chain inside `tx`. Locks the
/// chain head row first: concurrent appenders (on any node) queue here, so
/// sequence numbers stay gap-free and the chain never forks.
pub(crate) async fn append_in(
    tx: &mut Transaction<'static, Any>,
    owner: impl Into<LedgerOwner>,
    chain: Chain,
    news: Vec<NewEntry>,
) -> Result<Vec<Entry>, StoreError> {
    append_in_at(tx, owner, chain, news, None).await
}

/// [`append_in`], refused with [`StoreError::LedgerMoved`] when `checked_at` is given and the
/// chain's head (read under the head's lock, so no other writer can move it before the
/// commit) is no longer that entry.
pub(crate) async fn append_in_at(
    tx: &mut Transaction<'static, Any>,
    owner: impl Into<LedgerOwner>,
    chain: Chain,
    news: Vec<NewEntry>,
    checked_at: Option<u64>,
) -> Result<Vec<Entry>, StoreError> {
    let owner = owner.into();
    let head = lock_head(tx, owner, chain).await?;
    if let Some(checked_at) = checked_at
        && checked_at != head.seq
    {
        return Err(StoreError::LedgerMoved {
            checked_at,
            now: head.seq,
        });
    }
    let now = RecordedAt::now();
    let mut prev = head;
    let sealed: Vec<Entry> = news
        .into_iter()
        .map(|n| {
            let e = Entry::seal(owner, prev.seq + 1, prev.hash, now, n);
            prev = ChainHead {
                seq: e.seq,
                hash: e.hash,
            };
            e
        })
        .collect();
    insert_entries(tx, chain, &sealed).await?;
    sqlx::query("UPDATE chain_heads SET seq = $1, hash = $2 WHERE tenant_code = $3 AND chain = $4")
        .bind(prev.seq as i64)
        .bind(prev.hash.0.to_vec())
        .bind(owner.as_str())
        .bind(chain.name())
        .execute(&mut **tx)
        .await?;
    Ok(sealed)
}

/// Inserts already-sealed entries (also used when applying shipped segments).
pub(crate) async fn insert_entries(
    tx: &mut Transaction<'static, Any>,
    chain: Chain,
    entries: &[Entry],
) -> Result<(), StoreError> {
    let extra = matches!(chain, Chain::Access);
    for batch in entries.chunks(INSERT_BATCH) {
        let cols = if extra { 13 } else { 10 };
        let sql = format!(
            "{} INTO {} ({ENTRY_COLUMNS}{}) VALUES {}",
            insert_verb(tx),
            chain.table(),
            if extra {
                ", action, subject, purpose"
            } else {
                ""
            },
            values_list(tx, batch.len(), cols)
        );
        let mut q = sqlx::query(&sql);
        for e in batch {
            q = q
                .bind(e.owner.as_str())
                .bind(e.seq as i64)
                .bind(e.prev_hash.0.to_vec())
                .bind(e.hash.0.to_vec())
                .bind(e.kind.as_str())
                .bind(i64::from(e.version))
                .bind(date_str(e.effective_date))
                .bind(e.recorded_at.0)
                .bind(e.actor.as_str())
                .bind(e.payload.as_slice());
            if extra {
                // Searchable copies of the access record's fields.
                let r = AccessRecord::from_payload(e.version, &e.payload).ok();
                q = q
                    .bind(
                        r.as_ref()
                            .map_or(String::new(), |r| r.action.code().to_string()),
                    )
                    .bind(r.as_ref().map_or(String::new(), |r| r.subject.clone()))
                    .bind(r.map_or(String::new(), |r| r.purpose));
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
