//! The one error type of this crate. Messages say what happened and what the
//! operator can do about it.

use murakumo_ledger::SegmentError;
use murakumo_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "repository URL {url:?} is not understood: {reason}. Use file:///PATH, webdav://HOST:PORT/PATH \
         (webdavs:// for HTTPS), murakumo://HOST:PORT (murakumos:// for HTTPS) or \
         dispersed:URL1,URL2,URL3"
    )]
    BadUrl { url: String, reason: String },

    #[error(
        "no backup key given: set MURAKUMO_BACKUP_PASSPHRASE or pass --key-file FILE \
         (the same one every time: without it the backups cannot be read)"
    )]
    NoKey,

    #[error("cannot read the key file {path}: {reason}")]
    KeyFile { path: String, reason: String },

    #[error(
        "the {kind} given does not unlock the repository at {repo}: it is not the one the repository \
         was created with. There is no way around this — the backups are encrypted and only that \
         {kind} opens them. Try the right one; if it is lost, these backups cannot be restored: \
         create a new repository (a new URL) with a new key and run a full backup now"
    )]
    WrongKey { repo: String, kind: &'static str },

    #[error(
        "the repository at {repo} is locked with a {has} only, but a {given} was given; \
         {hint}"
    )]
    KeyKindMismatch {
        repo: String,
        has: &'static str,
        given: &'static str,
        hint: &'static str,
    },

    #[error("the repository at {repo} is not a Murakumo backup repository or is damaged: {reason}")]
    BadRepository { repo: String, reason: String },

    #[error(
        "the repository at {repo} has no snapshot yet: run `murakumo backup --to {repo}` first"
    )]
    NoSnapshot { repo: String },

    #[error("snapshot {name} is not in the repository at {repo}")]
    SnapshotNotFound { repo: String, name: String },

    #[error("object {name} is missing from the repository at {repo}")]
    Missing { repo: String, name: String },

    #[error(
        "object {name} in the repository at {repo} is corrupted ({reason}): it was changed or \
         damaged after it was written; run `murakumo verify --repo {repo}` for a full report"
    )]
    Corrupted {
        repo: String,
        name: String,
        reason: String,
    },

    #[error("{target}: {op} {name} failed after {attempts} attempt(s): {reason}")]
    Transfer {
        target: String,
        op: &'static str,
        name: String,
        attempts: u32,
        reason: String,
    },

    #[error("{target} refused {op} {name}: {reason}")]
    Refused {
        target: String,
        op: &'static str,
        name: String,
        reason: String,
    },

    #[error(
        "{owner}: the {chain} chain in the database does not continue the one backed up \
         (backed up up to entry {seq}, whose hash differs here). The database was restored from an \
         older backup or rewritten; back it up into a new repository"
    )]
    Diverged {
        /// `tenant 131016`, or `the platform`.
        owner: String,
        chain: &'static str,
        seq: u64,
    },

    #[error(
        "--repair rebuilds the shares of a dispersed: repository from its other sites; {repo} is a \
         single site with no second copy to rebuild from. Run `murakumo verify --repo {repo}` to see \
         what is damaged, and back up into a new repository (a dispersed: one keeps working when a \
         site is lost)"
    )]
    NotDispersed { repo: String },

    #[error(
        "site {site} of {repo} ({location}) cannot be reached: {reason}. Nothing more was repaired: \
         a repair writes the shares each site lacks, so all three sites must answer. Bring the site \
         back (or replace it with an empty one, given in the same position of dispersed:URL1,URL2,URL3) \
         and run `murakumo verify --repo URL --repair` again; it continues where this one stopped"
    )]
    SiteUnreachable {
        repo: String,
        site: usize,
        location: String,
        reason: String,
    },

    #[error(
        "restore refused; nothing was written. {count} object(s) that snapshot {snapshot} needs are \
         lost at {repo} (missing, or fewer than two good shares):\n{list}\n\
         `murakumo verify --repo {repo}` names the snapshots (and, with --tenant, the \
         municipalities) that can still be restored"
    )]
    Lost {
        repo: String,
        snapshot: String,
        count: usize,
        list: String,
    },

    #[error("tenant {0} is not in this backup; `murakumo verify --repo URL` lists what is")]
    TenantNotInBackup(String),

    #[error("{0}")]
    Refuse(String),

    #[error("ledger segment in the backup does not verify: {0}")]
    Segment(#[from] SegmentError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("secret-sharing dispersal: {0}")]
    Dispersal(String),

    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
