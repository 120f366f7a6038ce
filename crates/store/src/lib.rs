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
mod platform_chain;
mod projection;
mod replication;
mod rows;
mod saml;
mod sealing;
mod shipping;
mod tenant;

pub use backend::{Backend, BackendKind};
pub use certificates::{IssueNumber, IssuedRow, PublicKeyRow, SigningKeyRow, parse_issue_number};
pub use changes::PendingChangeRow;
pub use error::StoreError;
pub use login::{ThrottleBucket, Throttled};
pub use outbox::{CheckedOutboxItem, MAX_OUTBOX_PAYLOAD, OutboxRefusal, Replayer};
pub use platform::{Operator, OperatorSessionRow, TenantInfo};
pub use platform_chain::{PlatformChain, PrefectureSettingChange};
pub use projection::{Projection, ProjectionRun, Start, System, Systems, fetch_records};
pub use replication::{AppendWatch, MAX_EPOCH, NodeRole, NodeState, OutboxItem, Replayed};
pub use rows::{AccessFilter, AccessLogRow, Chain, SettingChange};

/// SQL helpers for business systems' projections and reads: the same placeholders, dates
/// and ledger rows the store itself uses, so both backends run a system's SQL.
pub mod sql {
    pub use crate::rows::{
        ENTRY_COLUMNS, Placeholders, date_str, entry_from_row, insert_verb, parse_date,
        record_column, values_list,
    };
}
pub use saml::SamlSessionRow;
pub use sealing::PlatformKey;
pub use shipping::Applied;
pub use tenant::{IMPORT_CHUNK, ImportMark, REBUILD_PAGE, SessionRow, TenantStore};

use std::path::Path;
use std::sync::Arc;

use murakumo_core::TenantCode;
use sqlx::AnyPool;

/// The `meta` key holding the projection version `system`'s read models were written with.
fn version_key(system: System) -> String {
    format!("projection_version.{}", system.name())
}

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Arc<dyn Backend>,
    /// Commits made through this handle (long polls, synchronous mode).
    pub(crate) appended: replication::SharedWatch,
    /// SQLite: concurrent writes share a transaction (see `group.rs`).
    pub(crate) group: Option<Arc<group::GroupCommit>>,
    /// Read models whose projection version changed, not rebuilt yet.
    pub(crate) rebuilds: Arc<Rebuilds>,
    /// The systems whose read models this store writes.
    pub(crate) systems: Systems,
    /// Seals and opens the secrets of certificate signing keys (`None`: this store signs
    /// nothing).
    pub(crate) platform_key: Option<Arc<PlatformKey>>,
}

/// The platform key's file in a data directory, unless `--platform-key-file` names another.
pub const PLATFORM_KEY_FILE: &str = "platform.key";

/// The (tenant, system) read models to rebuild because the system's projection version
/// changed, found when the store opens; [`Store::rebuild_pending`] works through them.
#[derive(Default)]
pub(crate) struct Rebuilds {
    stale: Vec<System>,
    pending: std::sync::Mutex<std::collections::BTreeSet<(TenantCode, System)>>,
}

impl Rebuilds {
    fn pending(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<(TenantCode, System)>> {
        // A panic elsewhere while holding the lock leaves a usable set.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database in a data
    /// directory, projecting the read models of `systems`.
    ///
    /// Every process that writes a database must be opened with the same systems: entries of
    /// a system left out are appended without their read models (a binary's systems are
    /// `murakumo_app::systems()`).
    ///
    /// The node's platform key is `platform.key` in the data directory (created if missing).
    pub async fn open_sqlite(data_dir: &Path, systems: Systems) -> Result<Store, StoreError> {
        let backend = backend::Sqlite::new(data_dir)?;
        let key = PlatformKey::load_or_create(&data_dir.join(PLATFORM_KEY_FILE))?;
        Self::open_with(Arc::new(backend), systems, Some(key)).await
    }

    /// Opens a PostgreSQL database by URL, migrating it if needed (see [`Store::open_sqlite`]),
    /// without a platform key: such a store cannot sign certificates (see [`Store::open`]).
    pub async fn open_postgres(url: &str, systems: Systems) -> Result<Store, StoreError> {
        Self::open_with(Arc::new(backend::Postgres::new(url)), systems, None).await
    }

    /// Opens by `--database-url` if given, else the data directory, with the platform key in
    /// `key_file` (default: `platform.key` in the data directory; created if missing).
    pub async fn open(
        data_dir: &Path,
        database_url: Option<&str>,
        key_file: Option<&Path>,
        systems: Systems,
    ) -> Result<Store, StoreError> {
        let default = data_dir.join(PLATFORM_KEY_FILE);
        let key = Some(PlatformKey::load_or_create(key_file.unwrap_or(&default))?);
        let backend: Arc<dyn Backend> = match database_url {
            Some(url) => Arc::new(backend::Postgres::new(url)),
            None => Arc::new(backend::Sqlite::new(data_dir)?),
        };
        Self::open_with(backend, systems, key).await
    }

    async fn open_with(
        backend: Arc<dyn Backend>,
        systems: Systems,
        platform_key: Option<PlatformKey>,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        backend.migrate().await?;
        let pool = backend.connect_app_pool().await?;
        let group = (backend.kind() == BackendKind::Sqlite).then(|| {
            Arc::new(group::GroupCommit::start(
                pool.clone(),
                backend.clone(),
                systems.clone(),
            ))
        });
        let mut store = Store {
            pool,
            backend,
            appended: Arc::default(),
            group,
            rebuilds: Arc::default(),
            systems,
            platform_key: platform_key.map(Arc::new),
        };
        store.adopt_platform_rows().await?;
        store.adopt_signing_keys().await?;
        store.rebuilds = Arc::new(store.find_stale_projections().await?);
        // No tenant yet (a new database): nothing to rebuild, the versions are this build's.
        if store.rebuilds_pending() == 0 {
            store.record_projection_versions().await?;
        }
        Ok(store)
    }

    /// The systems whose projection version differs from the one that wrote their read
    /// models, with every tenant (all of them must be rebuilt).
    async fn find_stale_projections(&self) -> Result<Rebuilds, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, false)
            .await?;
        let rows = sqlx::query("SELECT key, value FROM meta WHERE key LIKE 'projection_version%'")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut versions = std::collections::HashMap::new();
        for r in rows {
            let key: String = sqlx::Row::try_get(&r, "key")?;
            let value: String = sqlx::Row::try_get(&r, "value")?;
            versions.insert(key, value);
        }
        // Before versions per system, one version held for all.
        let shared = versions.get("projection_version").cloned();
        let stale: Vec<System> = self
            .systems
            .all()
            .filter(|p| {
                let stored = versions.get(&version_key(p.system())).or(shared.as_ref());
                stored.map(String::as_str) != Some(p.version())
            })
            .map(|p| p.system())
            .collect();
        let tenants = if stale.is_empty() {
            Vec::new()
        } else {
            self.list_tenants().await?
        };
        let pending = tenants
            .iter()
            .flat_map(|t| stale.iter().map(|s| (t.code, *s)))
            .collect();
        Ok(Rebuilds {
            stale,
            pending: std::sync::Mutex::new(pending),
        })
    }

    /// Whether `tenant`'s read models of `system` wait to be rebuilt: a request that needs
    /// them must not be answered from them yet.
    pub fn rebuilding(&self, tenant: &TenantCode, system: System) -> bool {
        self.rebuilds.pending().contains(&(*tenant, system))
    }

    /// Rebuilds the next (tenant, system) read models waiting, if any, and says which.
    pub async fn rebuild_next(&self) -> Result<Option<(TenantCode, System)>, StoreError> {
        let next = self.rebuilds.pending().iter().next().copied();
        let Some((tenant, system)) = next else {
            return Ok(None);
        };
        tracing::info!(tenant = %tenant, system = system.name(), "rebuilding read models");
        self.tenant(&tenant).rebuild_system(system).await?;
        self.rebuilds.pending().remove(&(tenant, system));
        Ok(Some((tenant, system)))
    }

    /// Forgets the projection version `system`'s read models were written with, as if an
    /// older build had written them: the next open finds them stale. For tests.
    #[doc(hidden)]
    pub async fn forget_projection_version(&self, system: System) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, true)
            .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, 'old') \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(version_key(system))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many (tenant, system) read models wait to be rebuilt.
    pub fn rebuilds_pending(&self) -> usize {
        self.rebuilds.pending().len()
    }

    /// Rebuilds every read model whose system's projection version changed, tenant by
    /// tenant, one system at a time (each in its own transaction), then records the new
    /// versions. The server runs this in the background after it starts listening; other
    /// commands run it before they begin.
    pub async fn rebuild_pending(&self) -> Result<(), StoreError> {
        if self.rebuilds.stale.is_empty() {
            return Ok(());
        }
        while self.rebuild_next().await?.is_some() {}
        self.record_projection_versions().await?;
        tracing::info!("read models rebuilt");
        Ok(())
    }

    /// Records that the stale systems' read models are now this build's.
    async fn record_projection_versions(&self) -> Result<(), StoreError> {
        let stale = &self.rebuilds.stale;
        if stale.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, true)
            .await?;
        for projection in stale.iter().filter_map(|s| self.systems.get(*s)) {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(version_key(projection.system()))
            .bind(projection.version())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether `key` is set in `meta` (a one-time migration done).
    pub(crate) async fn meta_flag(&self, key: &str) -> Result<bool, StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, false)
            .await?;
        let row = sqlx::query("SELECT 1 FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.is_some())
    }

    pub(crate) async fn set_meta_flag(&self, key: &str) -> Result<(), StoreError> {
        let mut tx = self
            .backend
            .begin(&self.pool, backend::Scope::Platform, true)
            .await?;
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, 'done') ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
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
        self.backend.close().await;
    }

    /// The pool, for tests that must prove what a raw query can and cannot see.
    pub fn raw_pool(&self) -> &AnyPool {
        &self.pool
    }
}
