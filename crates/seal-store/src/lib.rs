//! 印鑑登録's read models, owned by the seal system rather than the store: the
//! [`Projection`] of seal events into the `seals` and `official_seals` tables, and
//! [`SealReads`], the queries on them. See `murakumo-resident-store` for the pattern.

mod projection;
mod reads;

pub use projection::SealProjection;
pub use reads::{SealQuery, SealReads};

use murakumo_store::{Projection, System};

/// 印鑑登録, as the store knows it.
pub const SEAL: System = System::new("seal", "印鑑登録");

/// The seal system's projection, to hand to the store.
pub static PROJECTION: SealProjection = SealProjection;

/// [`PROJECTION`] as the store takes it.
pub fn projection() -> &'static dyn Projection {
    &PROJECTION
}
