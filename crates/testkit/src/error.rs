//! The one error type of this crate.

use std::process::ExitStatus;

/// Why a test component could not be started or used. Messages say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PostgreSQL program is not installed.
    #[error(
        "{program} not found on PATH or under /usr/lib/postgresql/*/bin: run scripts/setup-test.sh"
    )]
    ProgramNotFound {
        /// The program looked for, e.g. `initdb`.
        program: &'static str,
    },

    /// Running as root, and no system user could be found or created to run PostgreSQL as.
    #[error(
        "running as root, but no system user to run PostgreSQL as ({detail}); \
         install the postgresql package (scripts/setup-test.sh) or run the tests as a normal user"
    )]
    NoServiceUser {
        /// What went wrong looking the user up or creating it.
        detail: String,
    },

    /// A file system or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, e.g. "creating the cluster directory".
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An external program (initdb, pg_ctl, psql, ...) exited unsuccessfully.
    #[error("{action} failed ({status}):\n{output}")]
    CommandFailed {
        /// What was being done, e.g. "initdb".
        action: String,
        /// How the program exited.
        status: ExitStatus,
        /// Its stderr and stdout (and, for server start-up, the server log).
        output: String,
    },

    /// Every port tried for the new cluster was taken by someone else before PostgreSQL bound it.
    #[error(
        "PostgreSQL could not bind a free port after {attempts} attempts; last server log:\n{log}"
    )]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
        /// The server log of the last attempt.
        log: String,
    },

    /// `MURAKUMO_TEST_PG_ADMIN_URL` (or the URL given to [`crate::PgCluster::connect`]) is not
    /// a `postgres://` URL.
    #[error(
        "not a postgres:// or postgresql:// URL (password hidden): {redacted}; \
         expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    )]
    BadAdminUrl {
        /// The URL with any password replaced by `***`.
        redacted: String,
    },

    /// The database name passed to [`crate::PgCluster::create_database`] is not usable.
    #[error(
        "database name {name:?} is not usable: use 1 to 40 characters from a-z, 0-9 and _, \
         not starting with a digit"
    )]
    InvalidName {
        /// The name as given.
        name: String,
    },

    /// The operation needs a cluster this crate started, but the cluster is a shared server
    /// given by `MURAKUMO_TEST_PG_ADMIN_URL`.
    #[error(
        "{operation} needs a cluster started by the testkit, but this one is the shared server \
         from MURAKUMO_TEST_PG_ADMIN_URL; use PgCluster::builder().dedicated()"
    )]
    SharedServer {
        /// The operation that was refused.
        operation: &'static str,
    },
    /// The browser or its driver failed (UI tests; feature `browser`).
    #[error("browser: {0}")]
    Browser(String),
}

impl Error {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }
}
