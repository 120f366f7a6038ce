use murakumo_core::TenantCode;
use murakumo_ledger::{ChainBreak, EntryDecodeError, EventDecodeError, LedgerOwner};

// `Database` and `Migration` print their cause in their message and do not also report it as
// a `source`: `{:#}` would print the database's words once per level of the chain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("schema migration failed: {0}")]
    Migration(sqlx::migrate::MigrateError),
    /// The database cannot be prepared as it is: says what to grant or create.
    #[error("{0}")]
    Setup(String),
    #[error("cannot use data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error(
        "tenant {0} does not exist; create it with `murakumo tenant create --code {0} --name NAME`"
    )]
    TenantNotFound(TenantCode),
    #[error("tenant {0} already exists")]
    TenantExists(TenantCode),
    /// The platform's chain has no head: the database was not migrated by this version.
    #[error(
        "the platform's chain is missing from this database; start `murakumo serve` (or any command) of this version once to migrate it"
    )]
    PlatformChainMissing,
    #[error(
        "this node was started without a platform key (--platform-key-file): it cannot seal or open certificate signing keys"
    )]
    NoPlatformKey,
    #[error("the platform key file {path}: {reason}")]
    PlatformKey { path: String, reason: String },
    #[error("{0}")]
    Conflict(String),
    /// A change was checked against the register as of ledger entry `checked_at`, and
    /// something else was appended before it could be: check it again.
    #[error(
        "the register changed while this change was being checked (checked at ledger entry {checked_at}, \
         now at {now}); check it again against the current register"
    )]
    LedgerMoved { checked_at: u64, now: u64 },
    #[error("chain of {owner} ({chain}) does not verify: {source}")]
    Chain {
        owner: LedgerOwner,
        chain: &'static str,
        source: ChainBreak,
    },
    #[error("stored entry {seq} of {owner} cannot be read: {reason}")]
    Corrupt {
        owner: LedgerOwner,
        seq: u64,
        reason: String,
    },
    #[error(
        "this node is a {role} (epoch {epoch}) and does not change tenant data: make the change at the primary \
         data centre; if the primary is lost for good, its operator promotes a replica with `murakumo promote`"
    )]
    NotPrimary { role: &'static str, epoch: u64 },
    /// A write shared a transaction (group commit) that did not commit:
    /// nothing of it was recorded; try again.
    #[error("the write was not recorded (its transaction did not commit): {0}")]
    NotCommitted(String),
    #[error(transparent)]
    Event(#[from] EventDecodeError),
    #[error(transparent)]
    Entry(#[from] EntryDecodeError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migration(e)
    }
}

impl StoreError {
    /// The chain of `owner` has no head.
    pub(crate) fn chain_missing(owner: LedgerOwner) -> StoreError {
        match owner {
            LedgerOwner::Tenant(code) => StoreError::TenantNotFound(code),
            LedgerOwner::Platform => StoreError::PlatformChainMissing,
        }
    }

    /// Maps a unique-constraint violation to a [`StoreError::Conflict`] with
    /// the given message; passes any other error through.
    pub fn on_unique(e: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(message()),
            _ => StoreError::Database(e),
        }
    }
}
