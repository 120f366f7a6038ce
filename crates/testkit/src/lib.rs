//! Real components for Murakumo's tests.
//!
//! Murakumo's tests run against the real things the product runs against (see DESIGN.md,
//! "Real components, and how tests start them"). This crate starts the ones that need a
//! little ceremony, so each test can say what it needs in one line:
//!
//! - [`PgCluster`]: a throwaway PostgreSQL cluster built with the installed `initdb` and
//!   `pg_ctl`, on a free 127.0.0.1 port, in a temporary directory that is removed on drop.
//!   [`PgCluster::create_database`] hands out a URL for a fresh database owned by a fresh,
//!   password-authenticated, non-superuser role — what the application's migration role looks
//!   like in production. If `MURAKUMO_TEST_PG_ADMIN_URL` is set, an existing server is used
//!   instead of starting one.
//! - [`cargo_bin`]: the path of a workspace binary (e.g. `murakumo`) for end-to-end tests that
//!   drive the real executable.
//! - [`free_port`]: a currently unused TCP port on 127.0.0.1.
//! - [`nodes`]: `murakumo` replication nodes as processes (a primary, a second centre, a
//!   municipal site; on this host or inside a [`BadLink`] namespace), `curl` and their metrics.
//! - [`fixtures`]: the `murakumo` CLI on a throwaway SQLite directory or its own PostgreSQL
//!   database, and file helpers for migration data sets.
//! - [`SimpleSamlIdp`]: a real SAML 2.0 IdP (Debian's SimpleSAMLphp under `php -S`) with
//!   given users and one registered service provider.
//! - [`browser::Browser`] (feature `browser`): headless chromium over WebDriver at 1366×768,
//!   with screenshots saved under `target/screenshots/`.
//!
//! ```no_run
//! let pg = murakumo_testkit::PgCluster::start()?;
//! let url = pg.create_database("ledger_test");
//! // connect to `url` with the application's own client, run migrations, ...
//! # Ok::<(), murakumo_testkit::Error>(())
//! ```
//!
//! Running as root (as CI does): `initdb` refuses root, so the cluster's programs run as the
//! `postgres` system user (created by Debian's `postgresql` package; if it is missing, a system
//! user `murakumo-pg` is created) via `runuser`, and the temporary directory is handed to it.
//!
//! What this crate deliberately does not do:
//! - No mocks or in-memory fakes of PostgreSQL: the point is the real server.
//! - No PostgreSQL client library: setup SQL goes through the `psql` binary, so this crate
//!   adds no driver (or async runtime) to anyone's dev-dependencies. Tests use the
//!   application's own client against the URLs it hands out.
//! - No installing: missing programs are reported with a pointer to `scripts/setup-test.sh`.
//! - No sharing of clusters between test processes: each [`PgCluster`] is its own server
//!   (unless `MURAKUMO_TEST_PG_ADMIN_URL` is set). Clusters left behind by a test process that
//!   was killed (e.g. by a nextest timeout) are stopped and removed by the next
//!   [`PgCluster::start`] on the machine.
//! - No building: [`cargo_bin`] finds binaries that cargo already built; it does not run cargo.
//! - No timing assertions or benchmarks.

mod binaries;
#[cfg(feature = "browser")]
pub mod browser;
mod error;
pub mod fixtures;
mod netns;
pub mod nodes;
mod port;
mod postgres;
mod saml_idp;

pub use binaries::cargo_bin;
pub use error::Error;
pub use netns::{BadLink, Impairment, SKIP_NETNS_TESTS, Side};
pub use port::free_port;
pub use postgres::{ADMIN_URL_ENV, PgCluster, PgClusterBuilder};
pub use saml_idp::{IdpUser, SimpleSamlIdp};
