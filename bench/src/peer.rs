//! Peers: the same rows written the plain way, with no hashing, no chain
//! head and no projection code, on the same database engine, disk and
//! durability settings. The ledger's cost is its ratio to these.
//!
//! The plain tables have the ledger's and the residents projection's exact
//! columns, keys and indexes, in a database of their own next to the
//! store's (a second SQLite file in the same directory; a second database in
//! the same PostgreSQL cluster), so the store's schema is never touched.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, RecordedAt};
use murakumo_resident::{MovedIn, ResidentEvent};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor};

use crate::population::{ACTOR, Population, Rng, effective_date};

/// Rows per multi-row INSERT statement: the store's own statement size, so
/// that only the work around the statements differs.
pub const STATEMENT_ROWS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// What a plain run writes, and how often it commits.
#[derive(Clone, Copy, Debug)]
pub struct PlainRun {
    /// Also insert each resident's projection row (as a 転入 append does).
    pub with_residents: bool,
    /// Commit every this many rows; `None`: one transaction for all.
    pub commit_every: Option<usize>,
    pub placeholders: Placeholders,
}

/// How parameters are written in the SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholders {
    /// What a plain program writes for its engine: `?` on SQLite, `$n` on
    /// PostgreSQL.
    Native,
    /// `$n` on both, as the store writes them (sqlx's `Any` driver). On
    /// SQLite, binding `$n` costs O(parameters) per parameter: sqlx asks
    /// `sqlite3_bind_parameter_name` for each, which scans a list.
    Numbered,
}

/// A connection to the peers' database.
pub struct PeerDb {
    engine: Engine,
    url: String,
    pool: AnyPool,
}

impl PeerDb {
    pub async fn open(engine: Engine, url: &str) -> anyhow::Result<PeerDb> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // The store's durability: WAL, fsync on every commit.
                        conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("connecting to the peers' database {url}"))?;
        Ok(PeerDb {
            engine,
            url: url.to_string(),
            pool,
        })
    }

    /// Drops and creates the plain tables, so every run starts empty.
    async fn reset(&self) -> anyhow::Result<()> {
        let (blob, without_rowid) = match self.engine {
            Engine::Sqlite => ("BLOB", " WITHOUT ROWID"),
            Engine::Postgres => ("BYTEA", ""),
        };
        let statements = [
            "DROP TABLE IF EXISTS plain_entries".to_string(),
            "DROP TABLE IF EXISTS plain_residents".to_string(),
            format!(
                "CREATE TABLE plain_entries (tenant_code TEXT NOT NULL, seq BIGINT NOT NULL, \
                 prev_hash {blob} NOT NULL, hash {blob} NOT NULL, kind TEXT NOT NULL, \
                 version BIGINT NOT NULL, effective_date TEXT NOT NULL, recorded_at BIGINT NOT NULL, \
                 actor TEXT NOT NULL, payload {blob} NOT NULL, PRIMARY KEY (tenant_code, seq)){without_rowid}"
            ),
            "CREATE TABLE plain_residents (tenant_code TEXT NOT NULL, resident_code TEXT NOT NULL, \
             household_id TEXT NOT NULL, family_name TEXT NOT NULL, given_name TEXT NOT NULL, \
             family_kana TEXT NOT NULL, given_kana TEXT NOT NULL, birth_date TEXT NOT NULL, \
             sex_code BIGINT NOT NULL, address TEXT NOT NULL, relationship TEXT NOT NULL, \
             PRIMARY KEY (tenant_code, resident_code))"
                .to_string(),
            "CREATE INDEX plain_residents_by_kana ON plain_residents (tenant_code, family_kana, given_kana)"
                .to_string(),
        ];
        for s in statements {
            self.pool.execute(s.as_str()).await?;
        }
        Ok(())
    }

    /// Inserts `n` rows of `tenant` with multi-row INSERTs of
    /// [`STATEMENT_ROWS`] rows. Returns the time spent in the database
    /// (generating rows excluded).
    pub async fn insert(
        &self,
        tenant: &TenantCode,
        n: usize,
        run: PlainRun,
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<Duration> {
        self.reset().await?;
        let mut rows = PlainRows::new();
        let chunk = run.commit_every.unwrap_or(n).max(1);
        let start = Instant::now();
        let mut tx = self.pool.begin().await?;
        let mut spent = start.elapsed();
        let mut done = 0;
        while done < n {
            let take = chunk.min(n - done);
            let (entries, residents) = rows.next(take);
            let start = Instant::now();
            let numbered =
                run.placeholders == Placeholders::Numbered || self.engine == Engine::Postgres;
            for batch in entries.chunks(STATEMENT_ROWS) {
                insert_entries(&mut tx, tenant, batch, numbered).await?;
            }
            if run.with_residents {
                for batch in residents.chunks(STATEMENT_ROWS) {
                    insert_residents(&mut tx, tenant, batch, numbered).await?;
                }
            }
            done += take;
            if run.commit_every.is_some() && done < n {
                tx.commit().await?;
                tx = self.pool.begin().await?;
            }
            spent += start.elapsed();
            progress.set_position(done as u64);
        }
        let start = Instant::now();
        tx.commit().await?;
        Ok(spent + start.elapsed())
    }

    /// PostgreSQL only: the rows by `COPY … FROM STDIN` (text format), a
    /// COPY per table and piece of [`COPY_CHUNK`] rows (or per batch when
    /// committing per batch).
    pub async fn copy(
        &self,
        tenant: &TenantCode,
        n: usize,
        run: PlainRun,
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<Duration> {
        self.reset().await?;
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        let mut rows = PlainRows::new();
        let piece = run.commit_every.unwrap_or(COPY_CHUNK).max(1);
        let start = Instant::now();
        let mut tx = conn.begin().await?;
        let mut spent = start.elapsed();
        let mut done = 0;
        while done < n {
            let take = piece.min(n - done);
            let (entries, residents) = rows.next(take);
            let mut text = String::with_capacity(take * 600);
            for e in &entries {
                e.write_copy_line(tenant, &mut text);
            }
            let mut resident_text = String::new();
            if run.with_residents {
                for m in &residents {
                    write_resident_copy_line(tenant, m, &mut resident_text);
                }
            }
            let start = Instant::now();
            copy_in(&mut tx, COPY_ENTRIES, text).await?;
            if run.with_residents {
                copy_in(&mut tx, COPY_RESIDENTS, resident_text).await?;
            }
            done += take;
            if run.commit_every.is_some() && done < n {
                tx.commit().await?;
                tx = conn.begin().await?;
            }
            spent += start.elapsed();
            progress.set_position(done as u64);
        }
        let start = Instant::now();
        tx.commit().await?;
        spent += start.elapsed();
        conn.close().await?;
        Ok(spent)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A ledger row as the plain peer writes it: the ledger's columns, with
/// random bytes where the ledger has hashes.
struct PlainEntry {
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    kind: &'static str,
    version: i64,
    effective_date: String,
    recorded_at: i64,
    payload: Vec<u8>,
}

/// Rows per COPY statement when committing once.
const COPY_CHUNK: usize = 10_000;

const COPY_ENTRIES: &str = "COPY plain_entries (tenant_code, seq, prev_hash, hash, kind, \
     version, effective_date, recorded_at, actor, payload) FROM STDIN";
const COPY_RESIDENTS: &str = "COPY plain_residents (tenant_code, resident_code, household_id, \
     family_name, given_name, family_kana, given_kana, birth_date, sex_code, address, \
     relationship) FROM STDIN";

async fn copy_in(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    text: String,
) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(text.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// One resident row in COPY text format.
fn write_resident_copy_line(tenant: &TenantCode, m: &MovedIn, out: &mut String) {
    let date = m.birth_date.format("%Y-%m-%d").to_string();
    let texts = [
        tenant.as_str(),
        &m.resident_code,
        &m.household_id,
        &m.family_name,
        &m.given_name,
        &m.family_kana,
        &m.given_kana,
        &date,
    ];
    for t in texts {
        copy_text(out, t);
        out.push('\t');
    }
    let _ = write!(out, "{}\t", m.sex_code);
    copy_text(out, &m.address);
    out.push('\t');
    copy_text(out, &m.relationship);
    out.push('\n');
}

/// A text value in COPY text format (backslash, tab and newlines escaped).
fn copy_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

impl PlainEntry {
    /// One line of COPY text format.
    fn write_copy_line(&self, tenant: &TenantCode, out: &mut String) {
        let _ = write!(out, "{}\t{}\t", tenant.as_str(), self.seq);
        bytea_text(out, &self.prev_hash);
        out.push('\t');
        bytea_text(out, &self.hash);
        out.push('\t');
        copy_text(out, self.kind);
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t",
            self.version, self.effective_date, self.recorded_at
        );
        copy_text(out, ACTOR);
        out.push('\t');
        bytea_text(out, &self.payload);
        out.push('\n');
    }
}

/// A bytea value in COPY text format: `\\x` and hex digits.
fn bytea_text(out: &mut String, bytes: &[u8]) {
    out.push_str("\\\\x");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// The same population the ledger appends, as plain rows.
struct PlainRows {
    population: Population,
    rng: Rng,
    seq: i64,
}

impl PlainRows {
    fn new() -> PlainRows {
        PlainRows {
            population: crate::foundation::raw_population(),
            rng: Rng::new(99),
            seq: 0,
        }
    }

    fn next(&mut self, n: usize) -> (Vec<PlainEntry>, Vec<MovedIn>) {
        let residents = self.population.residents(n);
        let now = RecordedAt::now().0;
        let date = effective_date().format("%Y-%m-%d").to_string();
        let entries = residents
            .iter()
            .map(|m| {
                self.seq += 1;
                let (kind, version, payload) = ResidentEvent::MovedIn(m.clone()).encode();
                PlainEntry {
                    seq: self.seq,
                    prev_hash: self.random_hash(),
                    hash: self.random_hash(),
                    kind,
                    version: i64::from(version),
                    effective_date: date.clone(),
                    recorded_at: now,
                    payload,
                }
            })
            .collect();
        (entries, residents)
    }

    fn random_hash(&mut self) -> Vec<u8> {
        (0..4)
            .flat_map(|_| self.rng.next_u64().to_le_bytes())
            .collect()
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn insert_entries(
    tx: &mut Tx,
    tenant: &TenantCode,
    rows: &[PlainEntry],
    numbered: bool,
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO plain_entries (tenant_code, seq, prev_hash, hash, kind, version, \
         effective_date, recorded_at, actor, payload) VALUES {}",
        placeholders(rows.len(), 10, numbered)
    );
    let mut q = sqlx::query(&sql);
    for e in rows {
        q = q
            .bind(tenant.as_str())
            .bind(e.seq)
            .bind(e.prev_hash.as_slice())
            .bind(e.hash.as_slice())
            .bind(e.kind)
            .bind(e.version)
            .bind(e.effective_date.as_str())
            .bind(e.recorded_at)
            .bind(ACTOR)
            .bind(e.payload.as_slice());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn insert_residents(
    tx: &mut Tx,
    tenant: &TenantCode,
    rows: &[MovedIn],
    numbered: bool,
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO plain_residents (tenant_code, resident_code, household_id, family_name, \
         given_name, family_kana, given_kana, birth_date, sex_code, address, relationship) VALUES {}",
        placeholders(rows.len(), 11, numbered)
    );
    let mut q = sqlx::query(&sql);
    for m in rows {
        q = q
            .bind(tenant.as_str())
            .bind(m.resident_code.as_str())
            .bind(m.household_id.as_str())
            .bind(m.family_name.as_str())
            .bind(m.given_name.as_str())
            .bind(m.family_kana.as_str())
            .bind(m.given_kana.as_str())
            .bind(m.birth_date.format("%Y-%m-%d").to_string())
            .bind(i64::from(m.sex_code))
            .bind(m.address.as_str())
            .bind(m.relationship.as_str());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// `($1, …, $cols), (…)` for `rows` rows, or `(?, …), (…)` if not
/// `numbered`.
fn placeholders(rows: usize, cols: usize, numbered: bool) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            if numbered {
                let _ = write!(out, "${}", r * cols + c + 1);
            } else {
                out.push('?');
            }
        }
        out.push(')');
    }
    out
}
