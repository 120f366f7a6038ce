//! Online replication of tenant ledgers between Murakumo nodes.
//!
//! - [`wire`]: the pull protocol (a follower long-polls the primary for
//!   segments after its positions; framed, resumable at any segment).
//! - [`follower`]: `murakumo follow` — pulls, verifies (each segment's hash
//!   chain), applies through `TenantStore::apply_segment` (the one receiving
//!   path, shared with restore), reports lag, replays its outbox, and stops
//!   following when the node is promoted.
//! - [`runtime`]: what a running server knows about replication: follower
//!   acknowledgements (synchronous mode, the loss window of asynchronous
//!   mode) and, on a follower, whether the primary is reachable (the
//!   municipal-site fallback switches on that).
//!
//! Role and epoch live in the database (`Store::node_state`), so fencing
//! holds across restarts and for every node on one PostgreSQL.
//!
//! Deliberately not here: HTTP serving (the `server` crate serves the
//! primary's side of the protocol) and choosing a new primary (promotion is
//! an operator's decision, `murakumo promote`; no consensus is attempted).

pub mod follower;
pub mod runtime;
pub mod wire;

pub use follower::{FollowConfig, Follower, FollowerExit};
pub use runtime::{Acks, FollowStatus, ReplicationRuntime, SyncConfig};

/// Replication failures, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("storage: {0}")]
    Store(#[from] murakumo_store::StoreError),
    #[error("the primary at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the primary at {url} refused: {status} {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the primary at {url} sent data that does not verify: {reason}")]
    BadData { url: String, reason: String },
    #[error(
        "the chain of tenant {tenant} here has forked from the primary's: {detail}. This node holds entries the \
         primary never had (writes of an old primary that were never replicated). Keep this data for inspection \
         and make a fresh follower: murakumo follow URL --data NEW_DIR"
    )]
    Forked { tenant: String, detail: String },
    #[error("{0}")]
    Config(String),
}
