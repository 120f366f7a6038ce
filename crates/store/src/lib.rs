//! Storage: SQLite (embedded default) and PostgreSQL behind one
//! [`Backend`] trait, versioned migrations, the tenant-scoped handle, and the
//! projections that turn ledger entries into read models.
//!
//! Both backends run the same SQL (sqlx's `Any` driver, `$n` placeholders,
//! portable types: BIGINT, TEXT, BLOB/BYTEA). What differs — connecting,
//! migrations, how a transaction is opened and scoped to a tenant — is the
//! [`Backend`] trait.
//!
//! Invariants:
//! - Tenant data is reached only through [`TenantStore`], which puts the
//!   tenant code in every query; on PostgreSQL, row-level security is a
//!   second wall (the server runs as a role that owns nothing, and the tenant
//!   is set per transaction, never per connection).
//! - A ledger append and its projection commit in one transaction; the chain
//!   head row is locked first, so sequence numbers are gap-free even with
//!   several nodes on one database.
//! - Projections can be dropped and rebuilt from the ledger at any time.

mod backend;
mod certificates;
mod changes;
mod error;
mod export;
mod group;
mod login;
mod outbox;
mod platform;
mod projection;
mod replication;
mod rows;
mod saml;
mod seals;
mod shipping;
mod tenant;

pub use backend::{Backend, BackendKind};
pub use certificates::{IssueNumber, IssuedRow, PublicKeyRow, SigningKeyRow, parse_issue_number};
pub use changes::PendingChangeRow;
pub use error::StoreError;
pub use login::{ThrottleBucket, Throttled};
pub use outbox::{CheckedOutboxItem, MAX_OUTBOX_PAYLOAD, OutboxRefusal, Replayer};
pub use platform::{Operator, OperatorSessionRow, TenantInfo};
pub use replication::{AppendWatch, MAX_EPOCH, NodeRole, NodeState, OutboxItem, Replayed};
pub use rows::{AccessFilter, AccessLogRow, Chain, ResidentQuery, SettingChange};
pub use saml::SamlSessionRow;
pub use seals::SealQuery;
pub use shipping::Applied;
pub use tenant::{IMPORT_CHUNK, ImportMark, REBUILD_PAGE, SessionRow, TenantStore};

use std::path::Path;
use std::sync::Arc;

use murakumo_core::TenantCode;
use sqlx::AnyPool;

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Arc<dyn Backend>,
    /// Commits made through this handle (long polls, synchronous mode).
    pub(crate) appended: replication::SharedWatch,
    /// SQLite: concurrent writes share a transaction (see `group.rs`).
    pub(crate) group: Option<Arc<group::GroupCommit>>,
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database in a data
    /// directory.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        let backend = backend::Sqlite::new(data_dir)?;
        Self::open_with(Arc::new(backend)).await
    }

    /// Opens a PostgreSQL database by URL, migrating it if needed.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Self::open_with(Arc::new(backend::Postgres::new(url))).await
    }

    /// Opens by `--database-url` if given, else the data directory.
    pub async fn open(data_dir: &Path, database_url: Option<&str>) -> Result<Store, StoreError> {
        match database_url {
            Some(url) => Self::open_postgres(url).await,
            None => Self::open_sqlite(data_dir).await,
        }
    }

    async fn open_with(backend: Arc<dyn Backend>) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        backend.migrate().await?;
        let pool = backend.connect_app_pool().await?;
        let group = (backend.kind() == BackendKind::Sqlite)
            .then(|| Arc::new(group::GroupCommit::start(pool.clone(), backend.clone())));
        let store = Store {
            pool,
            backend,
            appended: Arc::default(),
            group,
        };
        store.rebuild_if_projections_changed().await?;
        Ok(store)
    }

    /// Read models are rebuilt from the ledger when this build projects
    /// differently from the one that wrote them.
    async fn rebuild_if_projections_changed(&self) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, true)
            .await?;
        let stored: Option<String> =
            sqlx::query("SELECT value FROM meta WHERE key = 'projection_version'")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| sqlx::Row::try_get(&r, "value"))
                .transpose()?;
        tx.commit().await?;
        if stored.as_deref() == Some(projection::PROJECTION_VERSION) {
            return Ok(());
        }
        for t in self.list_tenants().await? {
            tracing::info!(tenant = %t.code, "rebuilding read models for projection version {}", projection::PROJECTION_VERSION);
            self.tenant(&t.code).rebuild_projections().await?;
        }
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, true)
            .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('projection_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(projection::PROJECTION_VERSION)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub fn backend_kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// The handle through which all of one tenant's data is reached.
    pub fn tenant(&self, code: &TenantCode) -> TenantStore<'_> {
        TenantStore {
            store: self,
            tenant: *code,
        }
    }

    /// Waits for in-flight work and closes all connections (graceful stop).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests that must prove what a raw query can and cannot see.
    pub fn raw_pool(&self) -> &AnyPool {
        &self.pool
    }
}
