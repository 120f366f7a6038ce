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
//! Following a new primary after a failover is here: a follower that loses
//! its primary (unreachable for the detection time, fenced, or older than
//! an epoch it knows) asks the candidates it knows — the URLs it was given
//! and the peers its primary told it of — and switches to the primary with
//! the highest epoch, never a lower one than its own, after checking that
//! its chains are a prefix of the new primary's.
//!
//! Deliberately not here: HTTP serving (the `server` crate serves the
//! primary's side of the protocol) and choosing which node to promote
//! (promotion is an operator's decision, `murakumo promote`; no consensus
//! is attempted).

pub mod follower;
pub mod runtime;
pub mod wire;

pub use follower::{FollowConfig, Follower, FollowerExit, LostRange};
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
    #[error(
        "following the primary at {primary} (epoch {epoch}) would lose entries that this node holds and it does not: {}. \
         Nothing was changed here: this node keeps its role and every entry. Keep this data: export those entries for \
         review ({}, with this node's --data or --database-url), then start this node from a fresh data directory or \
         database: murakumo follow {primary} --data NEW_DIR",
        lost_list(.lost), export_hint(.lost)
    )]
    WouldLose {
        primary: String,
        epoch: u64,
        lost: Vec<LostRange>,
    },
    #[error("{0}")]
    Config(String),
}

fn lost_list(lost: &[LostRange]) -> String {
    lost.iter()
        .map(LostRange::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn export_hint(lost: &[LostRange]) -> String {
    lost.iter()
        .map(|l| {
            format!(
                "murakumo ledger export --tenant {} --chain {} --from {} --to {} --out {}-{}-{}-{}.jsonl",
                l.tenant, l.chain, l.first, l.last, l.tenant, l.chain, l.first, l.last
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
