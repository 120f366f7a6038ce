//! Backup repositories of ledger segments.
//!
//! A backup of a tenant is what every other copy of it is: the entries of
//! its chains (ledger and access log) after the last sequence number already
//! shipped, cut into self-verifying segments (`murakumo_ledger::Segment`).
//! This crate stores those segments in a **repository**:
//!
//! - content-addressed: each segment is cut into chunks (`--chunk-size`,
//!   default 8 MiB) named by a BLAKE3 hash keyed with a per-repository key,
//!   so a chunk already stored is never sent again and names leak nothing;
//! - encrypted and authenticated: XChaCha20-Poly1305 with the object's name
//!   as associated data; the repository's random master key is wrapped by
//!   a passphrase (argon2id) or a key file in the `config` object;
//! - resumable: chunks go first and the snapshot last, each object is
//!   written whole or not at all (or, to another centre, in parts resumed
//!   from where the other side stands), so a run cut by kill -9 or a dead
//!   link resumes without resending what arrived;
//! - on any [`Location`]: `file://`, `webdav://`, `murakumo://` (another
//!   Murakumo centre) and `dispersed:` (2-of-3 secret sharing over three).
//!
//! A snapshot lists the segments its run added, every chain's head, and
//! platform data (県版 settings, operators); restore walks the snapshots back
//! to the first, applies the segments with `TenantStore::apply_segment` and
//! verifies the chains. Formats: `docs/design/backup-repository.md`.
//!
//! A `dispersed:` repository heals itself: [`repair`] (`murakumo verify
//! --repair`) rebuilds every missing or damaged share from the other two
//! sites and writes it back, a wiped site included; [`verify_sample`] is the
//! daily scrub of a random share of the objects, and [`metrics`] writes what
//! a check found for Prometheus' textfile collector.
//!
//! What this crate does not do: decide when to back up (a scheduler or
//! cron does), prune old snapshots (the ledger only grows, so a repository
//! only grows), draw progress bars (it reports through [`Progress`]; the CLI
//! draws), or look inside events.

mod backup;
mod chains;
mod crypto;
mod dispersed;
mod error;
mod location;
pub mod manifest;
pub mod metrics;
mod repair;
mod repo;
mod restore;
mod target;
mod transfer;
mod verify;

pub use backup::{BackupOptions, BackupReport, backup};
pub use crypto::{KdfParams, KeySource};
pub use dispersed::{FaultKind, ShareFault};
pub use error::{BackupError, Result};
pub use location::Location;
pub use repair::{RepairReport, repair};
pub use repo::{Repository, Stats};
pub use restore::{RestoreOptions, RestoreReport, TenantRestored, restore};
pub use target::{PART, TOKEN_ENV, Target};
pub use transfer::{Limiter, Progress, Quiet, RetryPolicy, TokenBucket, parse_rate, parse_size};
pub use verify::{Unrestorable, VerifyReport, sample_objects, verify, verify_sample};

use std::sync::Arc;

/// How to reach a repository.
#[derive(Clone)]
pub struct Connect {
    pub url: String,
    pub key: KeySource,
    /// Upload rate cap in bytes per second.
    pub limit_rate: Option<u64>,
    pub retry: RetryPolicy,
    pub progress: Arc<dyn Progress>,
}

impl Connect {
    /// Opens the repository at `url`, creating it if `create` and absent.
    pub async fn open(&self, create: bool) -> Result<Repository> {
        let location = Location::parse(&self.url)?;
        let target = Target::open(
            &location,
            Limiter::new(self.limit_rate),
            self.retry,
            self.progress.clone(),
        )?;
        Repository::open(target, &self.key, create).await
    }
}
