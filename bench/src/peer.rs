//! Peers: the very rows the store wrote, written again the plain way — no
//! hashing, no chain head, no projection code, no row-level security — on
//! the same engine, disk and durability settings. The store's cost is its
//! ratio to these.
//!
//! The peer takes a [`Snapshot`] of every row one tenant's append produced
//! (its ledger rows and the projection rows, whatever tables the current
//! schema has), makes empty copies of those tables with the same columns,
//! keys and indexes, and inserts the snapshot into them, timed. It reads the
//! schema from the database, so it follows the store's migrations without
//! change:
//! - SQLite: a second database file in the same directory, made with the
//!   `CREATE TABLE` / `CREATE INDEX` statements from the store's
//!   `sqlite_master` (triggers left out);
//! - PostgreSQL: schema `plain` in the store's own database, tables made
//!   with `CREATE TABLE plain.t (LIKE public.t INCLUDING ALL)` (policies are
//!   not copied).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use murakumo_core::TenantCode;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Executor, Row};

/// Rows per multi-row INSERT statement: the store's own statement size, so
/// that only the work around the statements differs.
pub const STATEMENT_ROWS: usize = 500;
/// Rows per COPY or UNNEST statement when committing once.
const PG_PIECE: usize = 10_000;
/// The table every snapshot starts with.
const LEDGER_TABLE: &str = "ledger_entries";
/// Tables with a `tenant_code` column that are bookkeeping, not rows a plain
/// program would write.
const SKIPPED_TABLES: &[&str] = &["tenants", "chain_heads"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Which tables a plain run writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tables {
    /// The ledger rows only.
    Ledger,
    /// The ledger rows and every projection row the append made.
    All,
}

/// How parameters are written in the SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholders {
    /// What a plain program writes for its engine: bare `?` on SQLite, `$n`
    /// on PostgreSQL.
    Native,
    /// Numbered on both, as the store writes them: `?NNN` on SQLite, `$n` on
    /// PostgreSQL. On SQLite, a numbered parameter (`?NNN`, `$n`, `:name`)
    /// is a *named* one: sqlx asks `sqlite3_bind_parameter_name` for each
    /// parameter it binds, and SQLite finds the name by scanning the list of
    /// all of the statement's names, so binding a statement of P parameters
    /// costs O(P²). Bare `?` has no name: O(P).
    Numbered,
}

/// How a plain run writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Multi-row `INSERT … VALUES` of [`STATEMENT_ROWS`] rows, through
    /// sqlx's `Any` driver as the store.
    Insert(Placeholders),
    /// PostgreSQL: `COPY … FROM STDIN`, text format (native driver).
    Copy,
    /// PostgreSQL: `INSERT … SELECT * FROM UNNEST($1::text[], …)`, one
    /// statement of fixed shape per table and batch (native driver).
    Unnest,
}

/// What a plain run writes, how, and how often it commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainRun {
    pub tables: Tables,
    pub method: Method,
    /// Commit every this many ledger rows (with their share of the
    /// projection rows); `None`: one transaction for all.
    pub commit_every: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Blob,
}

#[derive(Clone, Debug)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// A table of the store's schema.
struct TableSchema {
    name: String,
    columns: Vec<(String, Kind)>,
    /// Primary key columns with their position in the key.
    key: Vec<(i64, String)>,
}

impl TableSchema {
    fn new(name: String) -> TableSchema {
        TableSchema {
            name,
            columns: Vec::new(),
            key: Vec::new(),
        }
    }

    fn add(&mut self, column: String, kind: Kind, key_position: i64) {
        if key_position > 0 {
            self.key.push((key_position, column.clone()));
        }
        self.columns.push((column, kind));
    }

    /// `ORDER BY` of the primary key (all columns if there is none).
    fn order_by(&self) -> String {
        if self.key.is_empty() {
            return column_list(&self.columns);
        }
        let mut key = self.key.clone();
        key.sort();
        key.into_iter()
            .map(|(_, c)| c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One table's rows for one tenant, as stored.
struct TableRows {
    name: String,
    columns: Vec<(String, Kind)>,
    rows: Vec<Vec<Value>>,
}

/// Every row one tenant's appends wrote, ledger table first.
pub struct Snapshot {
    tables: Vec<TableRows>,
}

impl Snapshot {
    pub fn ledger_rows(&self) -> usize {
        self.tables.first().map_or(0, |t| t.rows.len())
    }

    fn chosen(&self, tables: Tables) -> &[TableRows] {
        match tables {
            Tables::Ledger => &self.tables[..self.tables.len().min(1)],
            Tables::All => &self.tables,
        }
    }

    /// `ledger_entries 1,000,001, residents 1,000,000, …`
    pub fn describe(&self) -> String {
        self.tables
            .iter()
            .map(|t| format!("`{}` {}", t.name, t.rows.len()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The store's database (to read) and the peers' tables (to write).
pub struct PeerDb {
    engine: Engine,
    source: AnyPool,
    target: AnyPool,
    target_url: String,
}

impl PeerDb {
    /// `source_url`: the store's database, as a role that may read it all;
    /// `target_url`: where the plain tables go (PostgreSQL: the same).
    pub async fn open(
        engine: Engine,
        source_url: &str,
        target_url: &str,
    ) -> anyhow::Result<PeerDb> {
        sqlx::any::install_default_drivers();
        let connect = |url: String| async move {
            AnyPoolOptions::new()
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
                .connect(&url)
                .await
                .with_context(|| format!("connecting to {url}"))
        };
        let source = connect(source_url.to_string()).await?;
        let target = connect(target_url.to_string()).await?;
        if engine == Engine::Postgres {
            target.execute("CREATE SCHEMA IF NOT EXISTS plain").await?;
        }
        Ok(PeerDb {
            engine,
            source,
            target,
            target_url: target_url.to_string(),
        })
    }

    /// Reads every row of `tenant` in the store's tables (not timed).
    pub async fn snapshot(&self, tenant: &TenantCode) -> anyhow::Result<Snapshot> {
        let schema = self.schema().await?;
        let mut conn = self.source.acquire().await?;
        if self.engine == Engine::Postgres {
            // Row-level security applies to the owner too (FORCE).
            sqlx::query("SELECT set_config('murakumo.tenant', $1, false)")
                .bind(tenant.as_str())
                .execute(&mut *conn)
                .await?;
        }
        let mut tables = Vec::new();
        for table in schema {
            let TableSchema { name, columns, .. } = &table;
            if SKIPPED_TABLES.contains(&name.as_str())
                || !columns.iter().any(|(c, _)| c == "tenant_code")
            {
                continue;
            }
            let list = column_list(columns);
            let order = table.order_by();
            let rows = sqlx::query(&format!(
                "SELECT {list} FROM {name} WHERE tenant_code = $1 ORDER BY {order}"
            ))
            .bind(tenant.as_str())
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("reading table {name}"))?;
            if rows.is_empty() {
                continue;
            }
            let rows = rows
                .iter()
                .map(|r| values(r, columns))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("reading table {name}"))?;
            tables.push(TableRows {
                name: table.name,
                columns: table.columns,
                rows,
            });
        }
        tables.sort_by_key(|t| t.name != LEDGER_TABLE);
        if tables.first().is_none_or(|t| t.name != LEDGER_TABLE) {
            bail!("tenant {tenant} has no rows in {LEDGER_TABLE}");
        }
        Ok(Snapshot { tables })
    }

    /// Tables of the store's schema: name, columns with their kinds, and
    /// primary key columns.
    async fn schema(&self) -> anyhow::Result<Vec<TableSchema>> {
        let mut out: Vec<TableSchema> = Vec::new();
        match self.engine {
            Engine::Sqlite => {
                let names = sqlx::query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
                )
                .fetch_all(&self.source)
                .await?;
                for n in names {
                    let mut table = TableSchema::new(n.try_get(0)?);
                    let cols = sqlx::query(
                        "SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid",
                    )
                    .bind(table.name.as_str())
                    .fetch_all(&self.source)
                    .await?;
                    for c in cols {
                        let declared = c.try_get::<String, _>(1)?.to_ascii_uppercase();
                        let kind = if declared.contains("INT") {
                            Kind::Int
                        } else if declared.contains("BLOB") {
                            Kind::Blob
                        } else {
                            Kind::Text
                        };
                        table.add(c.try_get(0)?, kind, c.try_get(2)?);
                    }
                    out.push(table);
                }
            }
            Engine::Postgres => {
                let cols = sqlx::query(
                    "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                     COALESCE((SELECT array_position(i.indkey::int2[], a.attnum) \
                        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
                        WHERE i.indrelid = ('public.' || quote_ident(c.table_name))::regclass \
                          AND i.indisprimary AND a.attname = c.column_name), 0)::int8 \
                     FROM information_schema.columns c JOIN information_schema.tables t \
                       ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                     WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
                       AND c.table_name NOT LIKE '\\_sqlx%' \
                     ORDER BY c.table_name, c.ordinal_position",
                )
                .fetch_all(&self.source)
                .await?;
                for c in cols {
                    let name: String = c.try_get(0)?;
                    let column: String = c.try_get(1)?;
                    let data_type: String = c.try_get(2)?;
                    let kind = match data_type.as_str() {
                        "bigint" | "integer" | "smallint" => Kind::Int,
                        "bytea" => Kind::Blob,
                        "text" | "character varying" => Kind::Text,
                        other => bail!(
                            "column {name}.{column} has type {other}, which the peer cannot copy"
                        ),
                    };
                    if out.last().is_none_or(|t| t.name != name) {
                        out.push(TableSchema::new(name));
                    }
                    if let Some(table) = out.last_mut() {
                        table.add(column, kind, c.try_get(3)?);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Empty copies of the snapshot's tables, made fresh for every run.
    async fn reset(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        for t in &snapshot.tables {
            match self.engine {
                Engine::Sqlite => {
                    let ddl = sqlx::query(
                        "SELECT sql FROM sqlite_master WHERE tbl_name = $1 \
                         AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC",
                    )
                    .bind(t.name.as_str())
                    .fetch_all(&self.source)
                    .await?;
                    self.target
                        .execute(format!("DROP TABLE IF EXISTS {}", t.name).as_str())
                        .await?;
                    for row in ddl {
                        let sql: String = row.try_get(0)?;
                        self.target.execute(sql.as_str()).await?;
                    }
                }
                Engine::Postgres => {
                    self.target
                        .execute(
                            format!(
                                "DROP TABLE IF EXISTS plain.{0}; \
                                 CREATE TABLE plain.{0} (LIKE public.{0} INCLUDING ALL)",
                                t.name
                            )
                            .as_str(),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    fn target_table(&self, name: &str) -> String {
        match self.engine {
            Engine::Sqlite => name.to_string(),
            Engine::Postgres => format!("plain.{name}"),
        }
    }

    /// Writes the snapshot's rows into fresh plain tables; returns the time
    /// from the first `BEGIN` to the last `COMMIT`.
    pub async fn run(
        &self,
        snapshot: &Snapshot,
        run: PlainRun,
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<Duration> {
        self.reset(snapshot).await?;
        let tables = snapshot.chosen(run.tables);
        let ledger_rows = snapshot.ledger_rows();
        let piece_rows = run.commit_every.unwrap_or(match run.method {
            Method::Insert(_) => STATEMENT_ROWS,
            Method::Copy | Method::Unnest => PG_PIECE,
        });
        let pieces = ledger_rows.div_ceil(piece_rows.max(1)).max(1);
        // Piece `i` of a table of `n` rows: rows n*i/pieces .. n*(i+1)/pieces.
        let slice = |t: &'_ TableRows, i: usize| {
            let n = t.rows.len();
            (n * i / pieces, n * (i + 1) / pieces)
        };
        match run.method {
            Method::Insert(placeholders) => {
                let style = match (self.engine, placeholders) {
                    (Engine::Postgres, _) => Style::Dollar,
                    (Engine::Sqlite, Placeholders::Native) => Style::Bare,
                    (Engine::Sqlite, Placeholders::Numbered) => Style::Question,
                };
                let start = Instant::now();
                let mut tx = self.target.begin().await?;
                for i in 0..pieces {
                    for t in tables {
                        let (from, to) = slice(t, i);
                        for chunk in t.rows[from..to].chunks(STATEMENT_ROWS) {
                            self.insert(&mut tx, t, chunk, style).await?;
                        }
                    }
                    if run.commit_every.is_some() && i + 1 < pieces {
                        tx.commit().await?;
                        tx = self.target.begin().await?;
                    }
                    progress.set_position(slice(&tables[0], i).1 as u64);
                }
                tx.commit().await?;
                Ok(start.elapsed())
            }
            Method::Copy | Method::Unnest => {
                if self.engine != Engine::Postgres {
                    bail!("COPY and UNNEST are PostgreSQL's");
                }
                let mut conn = sqlx::PgConnection::connect(&self.target_url).await?;
                let start = Instant::now();
                let mut tx = conn.begin().await?;
                for i in 0..pieces {
                    for t in tables {
                        let (from, to) = slice(t, i);
                        let rows = &t.rows[from..to];
                        if rows.is_empty() {
                            continue;
                        }
                        let target = self.target_table(&t.name);
                        if run.method == Method::Copy {
                            copy_in(&mut tx, &target, t, rows).await?;
                        } else {
                            unnest(&mut tx, &target, t, rows).await?;
                        }
                    }
                    if run.commit_every.is_some() && i + 1 < pieces {
                        tx.commit().await?;
                        tx = conn.begin().await?;
                    }
                    progress.set_position(slice(&tables[0], i).1 as u64);
                }
                tx.commit().await?;
                let spent = start.elapsed();
                conn.close().await?;
                Ok(spent)
            }
        }
    }

    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        t: &TableRows,
        rows: &[Vec<Value>],
        style: Style,
    ) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.target_table(&t.name),
            column_list(&t.columns),
            placeholders(rows.len(), t.columns.len(), style)
        );
        let mut q = sqlx::query(&sql);
        for row in rows {
            for v in row {
                q = match v {
                    Value::Int(x) => q.bind(*x),
                    Value::Text(x) => q.bind(x.as_deref()),
                    Value::Blob(x) => q.bind(x.as_deref()),
                };
            }
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.source.close().await;
        self.target.close().await;
    }
}

fn column_list(columns: &[(String, Kind)]) -> String {
    columns
        .iter()
        .map(|(c, _)| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn values(row: &AnyRow, columns: &[(String, Kind)]) -> anyhow::Result<Vec<Value>> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Int => Value::Int(row.try_get(i)?),
                Kind::Text => Value::Text(row.try_get(i)?),
                Kind::Blob => Value::Blob(row.try_get(i)?),
            })
        })
        .collect()
}

type PgTx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// `COPY target (…) FROM STDIN` of `rows`, text format.
async fn copy_in(
    tx: &mut PgTx<'_>,
    target: &str,
    t: &TableRows,
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let mut text = String::with_capacity(rows.len() * 400);
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            match v {
                Value::Int(Some(x)) => {
                    let _ = write!(text, "{x}");
                }
                Value::Text(Some(s)) => copy_text(&mut text, s),
                Value::Blob(Some(b)) => bytea_text(&mut text, b),
                Value::Int(None) | Value::Text(None) | Value::Blob(None) => text.push_str("\\N"),
            }
        }
        text.push('\n');
    }
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {target} ({}) FROM STDIN",
            column_list(&t.columns)
        ))
        .await?;
    copy.send(text.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// `INSERT INTO target (…) SELECT * FROM UNNEST($1::int8[], …)`: one array
/// per column.
async fn unnest(
    tx: &mut PgTx<'_>,
    target: &str,
    t: &TableRows,
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let casts = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            let ty = match kind {
                Kind::Int => "int8",
                Kind::Text => "text",
                Kind::Blob => "bytea",
            };
            format!("${}::{ty}[]", i + 1)
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {target} ({}) SELECT * FROM UNNEST({casts})",
        column_list(&t.columns)
    );
    let mut q = sqlx::query(&sql);
    for (i, (_, kind)) in t.columns.iter().enumerate() {
        q = match kind {
            Kind::Int => q.bind(
                rows.iter()
                    .map(|r| match &r[i] {
                        Value::Int(x) => *x,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Text => q.bind(
                rows.iter()
                    .map(|r| match &r[i] {
                        Value::Text(x) => x.as_deref(),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Kind::Blob => q.bind(
                rows.iter()
                    .map(|r| match &r[i] {
                        Value::Blob(x) => x.as_deref(),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
    }
    q.execute(&mut **tx).await?;
    Ok(())
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

/// A bytea value in COPY text format: `\\x` and hex digits.
fn bytea_text(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\\\x");
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
}

/// How a placeholder is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// `?`
    Bare,
    /// `$1`
    Dollar,
    /// `?1`
    Question,
}

/// `(…, …), (…)` for `rows` rows of `cols` placeholders, numbered from 1.
fn placeholders(rows: usize, cols: usize, style: Style) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            let n = r * cols + c + 1;
            let _ = match style {
                Style::Bare => write!(out, "?"),
                Style::Dollar => write!(out, "${n}"),
                Style::Question => write!(out, "?{n}"),
            };
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_both_ways() {
        assert_eq!(placeholders(2, 2, Style::Dollar), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(2, 2, Style::Question), "(?1, ?2), (?3, ?4)");
        assert_eq!(placeholders(2, 2, Style::Bare), "(?, ?), (?, ?)");
    }

    #[test]
    fn copy_text_escapes() {
        let mut s = String::new();
        copy_text(&mut s, "a\tb\\c\nd");
        assert_eq!(s, "a\\tb\\\\c\\nd");
        let mut b = String::new();
        bytea_text(&mut b, &[0x00, 0xab]);
        assert_eq!(b, "\\\\x00ab");
    }
}
