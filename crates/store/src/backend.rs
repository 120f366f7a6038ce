//! What differs between SQLite and PostgreSQL: connecting, migrations, and
//! how a transaction is opened and bound to a tenant.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use murakumo_core::TenantCode;
use murakumo_ledger::LedgerOwner;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

/// Which rows a transaction may see.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// One tenant's rows only.
    Tenant(&'a TenantCode),
    /// Platform tables (tenant list, prefecture settings, operators).
    Platform,
    /// Creating or renaming a tenant: its rows and the tenant list.
    TenantAndPlatform(&'a TenantCode),
    /// The platform's chain and the platform tables it projects (operators, 県版 settings).
    PlatformChain,
}

impl<'a> Scope<'a> {
    /// The scope of the chain of `owner`.
    pub(crate) fn of(owner: &'a LedgerOwner) -> Scope<'a> {
        match owner {
            LedgerOwner::Tenant(code) => Scope::Tenant(code),
            LedgerOwner::Platform => Scope::PlatformChain,
        }
    }
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn kind(&self) -> BackendKind;
    /// Brings the schema to the newest version (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;
    /// The pool the application uses.
    async fn connect_app_pool(&self) -> Result<AnyPool, StoreError>;
    /// Opens a transaction bound to `scope`. `write` transactions take the
    /// database's write lock up front where the backend needs that.
    async fn begin(
        &self,
        pool: &AnyPool,
        scope: Scope<'_>,
        write: bool,
    ) -> Result<Transaction<'static, Any>, StoreError>;
    /// Closes what the backend holds besides the application pool.
    async fn close(&self) {}
}

pub(crate) struct Sqlite {
    path: PathBuf,
    /// One connection for every write transaction of this process. SQLite has one write
    /// lock; writers that wait for it in SQLite's busy handler poll (up to 100 ms apart) and
    /// a steady writer — a chunked import — wins again and again, while writers waiting for
    /// this pool's one connection are served first come, first served and woken as soon as
    /// it is free. Another process (the CLI beside a server) still waits in the busy handler.
    writer: tokio::sync::OnceCell<AnyPool>,
}

impl Sqlite {
    pub(crate) fn new(data_dir: &Path) -> Result<Sqlite, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let dir = data_dir.canonicalize().map_err(|e| StoreError::DataDir {
            path: data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Sqlite {
            path: dir.join("murakumo.db"),
            writer: tokio::sync::OnceCell::new(),
        })
    }

    fn options(&self) -> Result<AnyConnectOptions, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", self.path.display());
        let opts: AnyConnectOptions = url.parse()?;
        Ok(opts.disable_statement_logging())
    }
}

/// Durable and concurrent: WAL lets readers run beside the one writer, and
/// synchronous=FULL makes every acknowledged commit survive power loss.
/// A 256 MiB page cache per connection (allocated only as pages are
/// touched): the default 2 MB misses on every batch, because `residents`
/// has several indexes with random keys (rebuild of 270,000: 36.9 → 19.5 s).
/// Reads go through a memory map of up to 1 GiB (address space, not
/// memory): while others write, each read transaction starts with an
/// emptied page cache, and copying every page back in with pread took
/// ~13 % of a busy counter's CPU. Temporary data (the statement journals of
/// upserts and the group committer's savepoints) stays in memory: written
/// to a temporary file it was a tenth of a bulk import's time.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON; PRAGMA cache_size=-262144; PRAGMA mmap_size=1073741824; PRAGMA temp_store=MEMORY;";

#[async_trait]
impl Backend for Sqlite {
    fn kind(&self) -> BackendKind {
        BackendKind::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let pool = single_connection(self.options()?, Some(SQLITE_PRAGMAS)).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    async fn connect_app_pool(&self) -> Result<AnyPool, StoreError> {
        self.pool(8).await
    }

    async fn begin(
        &self,
        pool: &AnyPool,
        _scope: Scope<'_>,
        write: bool,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        if !write {
            return Ok(pool.begin().await?);
        }
        let writer = self.writer.get_or_try_init(|| self.pool(1)).await?;
        // IMMEDIATE takes the write lock now (waiting up to busy_timeout for another
        // process) instead of failing later when a reader upgrades to a writer.
        Ok(writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn close(&self) {
        if let Some(writer) = self.writer.get() {
            writer.close().await;
        }
    }
}

impl Sqlite {
    async fn pool(&self, connections: u32) -> Result<AnyPool, StoreError> {
        Ok(AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect_with(self.options()?)
            .await?)
    }
}

pub(crate) struct Postgres {
    url: String,
}

impl Postgres {
    pub(crate) fn new(url: &str) -> Postgres {
        Postgres {
            url: url.to_string(),
        }
    }

    fn options(&self) -> Result<AnyConnectOptions, StoreError> {
        let opts: AnyConnectOptions = self.url.parse()?;
        Ok(opts.log_statements(tracing::log::LevelFilter::Trace))
    }
}

/// The application runs as murakumo_app: owns nothing, subject to RLS.
const SET_APP_ROLE: &str = "SET ROLE murakumo_app";

#[async_trait]
impl Backend for Postgres {
    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx's migrator takes a PostgreSQL advisory lock, so nodes starting
        // together migrate one after the other.
        let pool = single_connection(self.options()?, None).await?;
        check_postgres_privileges(&pool).await?;
        check_postgres_collation(&pool).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        pool.close().await;
        Ok(())
    }

    async fn connect_app_pool(&self) -> Result<AnyPool, StoreError> {
        Ok(AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SET_APP_ROLE).await?;
                    Ok(())
                })
            })
            .connect_with(self.options()?)
            .await?)
    }

    async fn begin(
        &self,
        pool: &AnyPool,
        scope: Scope<'_>,
        _write: bool,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = pool.begin().await?;
        let (tenant, platform) = match scope {
            Scope::Tenant(t) => (t.as_str(), "off"),
            Scope::Platform => ("", "on"),
            Scope::TenantAndPlatform(t) => (t.as_str(), "on"),
            Scope::PlatformChain => (LedgerOwner::PLATFORM_CODE, "on"),
        };
        // `true`: local to this transaction, so a pooled connection never
        // carries a tenant over to its next user.
        sqlx::query("SELECT set_config('murakumo.tenant', $1, true), set_config('murakumo.platform', $2, true)")
            .bind(tenant)
            .bind(platform)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Before the first migration: the connecting role must be able to create the role
/// `murakumo_app` (the server's role, which owns nothing) and tables in its schema. Says
/// once, in words an operator can act on, what to grant; otherwise the migration would fail
/// half-way with the database's own message.
async fn check_postgres_privileges(pool: &AnyPool) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT current_user::text AS login, \
                (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS can_create_role, \
                has_schema_privilege(current_schema(), 'CREATE') AS can_create_table, \
                to_regclass('_sqlx_migrations') IS NOT NULL AS migrated",
    )
    .fetch_one(pool)
    .await?;
    use sqlx::Row;
    let login: String = row.try_get("login")?;
    if row.try_get::<bool, _>("migrated")? {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !row.try_get::<bool, _>("can_create_role")? {
        missing.push(format!("ALTER ROLE \"{login}\" CREATEROLE;"));
    }
    if !row.try_get::<bool, _>("can_create_table")? {
        missing.push(format!(
            "GRANT CREATE ON SCHEMA public TO \"{login}\";  (or make it the database's owner)"
        ));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Setup(format!(
        "PostgreSQL: the role {login} cannot prepare this database. On first start Murakumo creates its \
         tables and the role murakumo_app that the server runs as (it owns nothing and is subject to \
         row-level security). As a superuser, run once: {} — then start again. Nothing was changed.",
        missing.join(" ")
    )))
}

/// The prefix searches (a name's kana, an address from its 都道府県, the access log's subjects)
/// read a range `>= p AND < p || U+10FFFF`, which holds only when text sorts by code point:
/// the database's collation must be C (or C.UTF-8). A new database with another collation
/// is refused before anything is created; one already in use is served, with a warning.
async fn check_postgres_collation(pool: &AnyPool) -> Result<(), StoreError> {
    use sqlx::Row;
    let row = sqlx::query(
        // datlocprovider (PostgreSQL 15 on) is 'i' for an ICU collation, which datcollate
        // does not show; read through to_jsonb so that older servers answer NULL.
        "SELECT datcollate::text AS collation, current_database()::text AS db, \
                COALESCE(to_jsonb(d) ->> 'datlocprovider', 'c') AS provider, \
                to_regclass('_sqlx_migrations') IS NOT NULL AS migrated \
         FROM pg_database d WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    let mut collation: String = row.try_get("collation")?;
    let provider: String = row.try_get("provider")?;
    if provider != "c" {
        collation = format!("{collation} (provider {provider}: ICU)");
    } else if code_point_collation(&collation) {
        return Ok(());
    }
    let db: String = row.try_get("db")?;
    let fix = format!(
        "create it with code-point order: createdb --template=template0 --locale=C --encoding=UTF8 {db} (or initdb --locale=C)"
    );
    if row.try_get::<bool, _>("migrated")? {
        tracing::warn!(database = %db, collation = %collation,
            "PostgreSQL: the database's collation is not C; prefix searches may miss records. To fix, {fix} and move the data with murakumo backup/restore");
        return Ok(());
    }
    Err(StoreError::Setup(format!(
        "PostgreSQL: the database {db} sorts text by the collation {collation}, but Murakumo's \
         searches need code-point order (collation C). Nothing was changed; {fix}, then start again."
    )))
}

/// Whether a PostgreSQL collation orders text by code point.
fn code_point_collation(collation: &str) -> bool {
    matches!(
        collation.to_ascii_lowercase().as_str(),
        "c" | "posix" | "c.utf-8" | "c.utf8" | "ucs_basic"
    )
}

/// A pool of one connection, for migrations (sqlx's migrator wants a pool
/// or connection it can acquire from).
async fn single_connection(
    opts: AnyConnectOptions,
    init: Option<&'static str>,
) -> Result<AnyPool, StoreError> {
    Ok(AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if let Some(sql) = init {
                    conn.execute(sql).await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await?)
}
