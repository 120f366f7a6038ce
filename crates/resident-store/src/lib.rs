//! 住民記録's read models, owned by the resident register rather than the store: the
//! [`Projection`] that turns resident events into the `residents`, `resident_entries` and
//! `former_household_members` tables, and [`ResidentReads`], the register's queries on them.
//!
//! The store runs the projection (binaries register it with `murakumo_app::systems()`); it
//! never decodes a resident event itself, so the platform's crates (store, backup,
//! replication) do not depend on this one or on `murakumo-resident`.

mod projection;
mod reads;

pub use projection::ResidentProjection;
pub use reads::{ResidentQuery, ResidentReads};

use murakumo_store::{Projection, System};

/// 住民記録, as the store knows it.
pub const RESIDENT: System = System::new("resident", "住民記録");

/// The register's projection, to hand to the store.
pub static PROJECTION: ResidentProjection = ResidentProjection;

/// [`PROJECTION`] as the store takes it.
pub fn projection() -> &'static dyn Projection {
    &PROJECTION
}
