//! The use cases of the platform, each one function that every face calls: the JSON API
//! and the staff screens (`murakumo-server`), single sign-on, and the command line
//! (`murakumo-cli`). A face parses its input, says who acts ([`Actor`]), calls a use case
//! and shows the answer or the [`UseCaseError`]; the rules — which checks, which ledger
//! entries, which access-log records, in which transaction — are here, once.
//!
//! What lives here: staff accounts (`staff`), four-eyes changes (`changes`), settings
//! (`settings`), the SAML login's session (`sso`), the 支援措置 gate and the access log
//! (`protection`, `access`), the 異動 (`residents`), 印鑑登録 (`seals`, with the rule that
//! spans systems: a removal ends the registration), certificate issuance (`certificates`),
//! the migration import (`import`) and the register's statistics (`statistics`).
//!
//! What does not: HTTP, sessions, cookies and status codes (the server maps
//! [`UseCaseError`] to them in one place), argument parsing and progress bars (the CLI
//! passes a callback), SQL (the store), and the rules of one system alone (its pure domain
//! crate: `murakumo-resident`, `murakumo-seal`, `murakumo-tenancy`).
//!
//! **Architecture invariant:** depends on domain crates and the store, never on axum,
//! clap or any transport; a use case takes the actor as an argument and never reads a
//! request.

pub mod access;
mod actor;
mod cache;
pub mod certificates;
pub mod changes;
mod error;
pub mod import;
pub mod platform;
pub mod protection;
pub mod register;
pub mod residents;
pub mod seals;
pub mod settings;
pub mod sso;
pub mod staff;
pub mod statistics;

use std::sync::Arc;

use murakumo_core::TenantCode;
use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_store::{Store, Systems};

pub use actor::{Actor, StaffActor};
pub use cache::{TENANT_CACHE_TTL, TenantCache, TenantCaches};
pub use error::{Result, UseCaseError};

/// The business systems this platform runs, as the store projects them (the platform's own
/// systems come with the store). Every binary opens its store with these, so that whatever
/// it appends is projected by every system; a new business system adds its projection here
/// (docs/adding-a-business-system.md).
pub fn systems() -> Systems {
    Systems::new(&[
        murakumo_resident_store::projection(),
        murakumo_seal_store::projection(),
    ])
}

/// Opens the database (`--database-url`, else the SQLite file in `data_dir`) with [`systems`].
pub async fn open_store(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    platform_key_file: Option<&std::path::Path>,
) -> std::result::Result<Store, murakumo_store::StoreError> {
    Store::open(data_dir, database_url, platform_key_file, systems()).await
}

/// What every use case works on: the store, and the per-tenant values this node keeps for a
/// few seconds (settings, name, 公印, signing key). Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub cache: Arc<TenantCaches>,
}

impl App {
    pub fn new(store: Store) -> App {
        App {
            store,
            cache: Arc::default(),
        }
    }

    /// A handle on one tenant's data.
    pub fn tenant(&self, tenant: &TenantCode) -> murakumo_store::TenantStore<'_> {
        self.store.tenant(tenant)
    }
}

/// A ledger entry of `event` by `actor`, effective today in Japan (use cases set another
/// effective date — a 異動日, a 適用開始日 — where the event has one).
pub fn entry(actor: &str, event: &impl EventCodec) -> NewEntry {
    let (kind, version, payload) = event.encode();
    NewEntry {
        kind: kind.to_string(),
        version,
        effective_date: murakumo_core::today_in_japan(),
        actor: actor.to_string(),
        payload,
    }
}
