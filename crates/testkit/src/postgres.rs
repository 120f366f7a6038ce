//! Throwaway PostgreSQL clusters.

mod programs;
mod url;

use std::fmt::Write as _;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use crate::{Error, free_port};
use programs::{Programs, ServiceUser, command, run};
use url::ServerAddress;

/// If set, [`PgCluster::start`] uses this server instead of starting one, e.g.
/// `postgres://postgres:secret@127.0.0.1:5432/postgres`. The role must be able to create
/// roles and databases.
pub const ADMIN_URL_ENV: &str = "MURAKUMO_TEST_PG_ADMIN_URL";

/// Temporary directories of clusters start with this; [`reap_orphans`] looks for it.
const DIR_PREFIX: &str = "murakumo-pg-";
/// In a cluster's directory: which test process owns it, as written by [`process_identity`].
const OWNER_FILE: &str = "owner.pid";
/// In the data directory: our settings, included from postgresql.conf.
const SETTINGS_FILE: &str = "murakumo.conf";
/// In a cluster's directory: the server log.
const LOG_FILE: &str = "postgres.log";
const SUPERUSER: &str = "postgres";
/// How many ports to try when another process takes ours between choosing and binding it.
const PORT_ATTEMPTS: u32 = 8;
/// Seconds `pg_ctl` waits for start-up; generous, as many clusters may start at once.
const START_TIMEOUT_SECS: &str = "120";

/// A PostgreSQL server for one test: started by [`PgCluster::start`], stopped (immediately,
/// no checkpoint) and deleted when dropped.
///
/// The cluster lives in a temporary directory: the data directory is `data/` in it, the server
/// log `postgres.log`, and the Unix socket is in the directory itself. The server listens on
/// 127.0.0.1 only, on a port chosen free at start. Local (socket) connections are trusted; TCP
/// connections need a password (SCRAM-SHA-256), as in production.
///
/// If [`ADMIN_URL_ENV`] is set, no cluster is started: that server is used, databases and roles
/// get a random suffix so parallel tests do not collide, and they are dropped on drop.
pub struct PgCluster {
    admin_url: String,
    address: ServerAddress,
    psql: PathBuf,
    /// `None` when using the shared server from [`ADMIN_URL_ENV`].
    own: Option<OwnServer>,
    /// Databases (each with a role of the same name) to drop from the shared server on drop.
    created: Mutex<Vec<String>>,
}

/// A server this crate started.
struct OwnServer {
    dir: TempDir,
    data_dir: PathBuf,
    pg_ctl: PathBuf,
    user: Option<ServiceUser>,
}

/// Options for [`PgCluster`]; from [`PgCluster::builder`].
#[derive(Debug, Clone)]
pub struct PgClusterBuilder {
    fsync: bool,
    dedicated: bool,
    settings: Vec<(String, String)>,
}

impl Default for PgClusterBuilder {
    fn default() -> Self {
        PgClusterBuilder {
            fsync: true,
            dedicated: false,
            settings: Vec::new(),
        }
    }
}

impl PgClusterBuilder {
    /// Whether the server fsyncs (default `true`). `false` is faster but makes the cluster
    /// unusable for crash-safety tests: only turn it off where durability is not under test.
    pub fn fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Start a cluster of our own even if [`ADMIN_URL_ENV`] is set: for tests that stop,
    /// crash or reconfigure the server, or that depend on [`Self::fsync`] or [`Self::setting`].
    pub fn dedicated(mut self) -> Self {
        self.dedicated = true;
        self
    }

    /// Any other server setting (`postgresql.conf` syntax), e.g.
    /// `.setting("log_statement", "'all'")`. Ignored for the shared server unless
    /// [`Self::dedicated`].
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Starts the cluster (or connects to the shared server, see [`ADMIN_URL_ENV`]).
    pub fn start(self) -> Result<PgCluster, Error> {
        if !self.dedicated {
            if let Some(url) = std::env::var(ADMIN_URL_ENV).ok().filter(|u| !u.is_empty()) {
                return PgCluster::connect(&url);
            }
        }
        PgCluster::start_own(&self)
    }
}

impl PgCluster {
    /// Starts a cluster with the default options (fsync on). See [`PgCluster::builder`].
    pub fn start() -> Result<PgCluster, Error> {
        Self::builder().start()
    }

    /// Options for a new cluster.
    pub fn builder() -> PgClusterBuilder {
        PgClusterBuilder::default()
    }

    /// Uses an already running server, given by the URL of a role that can create roles and
    /// databases, instead of starting one; as when [`ADMIN_URL_ENV`] is set.
    pub fn connect(admin_url: &str) -> Result<PgCluster, Error> {
        Ok(PgCluster {
            address: ServerAddress::parse(admin_url)?,
            admin_url: admin_url.to_owned(),
            psql: programs::psql()?,
            own: None,
            created: Mutex::new(Vec::new()),
        })
    }

    /// The URL of a superuser (`postgres`, with a password, over TCP) on the `postgres`
    /// database. For the shared server, the URL it was given.
    pub fn admin_url(&self) -> String {
        self.admin_url.clone()
    }

    /// The cluster's directory (data directory `data/`, log, socket); `None` for the shared
    /// server.
    pub fn dir(&self) -> Option<&Path> {
        self.own.as_ref().map(|o| o.dir.path())
    }

    /// Creates a database owned by a new login role (not a superuser, but with CREATEROLE: the
    /// application's migration role) and returns the URL to connect as that role, with its
    /// password, over TCP.
    ///
    /// On a cluster of our own, database and role are both called `name`. On the shared server
    /// they are called `name_<random>`, and dropped when the [`PgCluster`] is.
    ///
    /// # Panics
    /// If `name` is not 1–40 of `a-z 0-9 _` (not starting with a digit), or the server refuses;
    /// see [`PgCluster::try_create_database`].
    pub fn create_database(&self, name: &str) -> String {
        self.try_create_database(name)
            .unwrap_or_else(|e| panic!("creating database {name:?}: {e}"))
    }

    /// [`PgCluster::create_database`], returning errors instead of panicking.
    pub fn try_create_database(&self, name: &str) -> Result<String, Error> {
        self.try_create_database_with(name, "")
    }

    /// [`PgCluster::try_create_database`] with more of `CREATE DATABASE`'s options, e.g.
    /// `TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'` for a database that does not
    /// sort by code point.
    pub fn try_create_database_with(&self, name: &str, options: &str) -> Result<String, Error> {
        let valid = (1..=40).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(Error::InvalidName {
                name: name.to_owned(),
            });
        }
        let database = match self.own {
            Some(_) => name.to_owned(),
            None => format!("{name}_{}", random_token(4)),
        };
        let password = random_token(16);
        // Separate -c commands run as separate transactions, as CREATE DATABASE requires.
        self.run_psql(
            &self.admin_url,
            &[
                &format!(r#"CREATE ROLE "{database}" LOGIN CREATEROLE PASSWORD '{password}'"#),
                &format!(r#"CREATE DATABASE "{database}" OWNER "{database}" {options}"#),
            ],
            &format!("creating database {database}"),
        )?;
        if self.own.is_none() {
            self.created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(database.clone());
        }
        Ok(self.address.url(&database, &password, &database))
    }

    /// Runs `sql` with `psql` as the user of `url` and returns the output, unaligned, tuples
    /// only (`psql -At`), e.g. `"1"` for `select 1`. Stops at the first error.
    pub fn psql(&self, url: &str, sql: &str) -> Result<String, Error> {
        self.run_psql(url, &[sql], "psql")
    }

    /// Kills the server as a power cut would (`pg_ctl stop -m immediate`): no checkpoint, the
    /// next start does crash recovery. Only for a cluster of our own.
    pub fn crash(&self) -> Result<(), Error> {
        let own = self
            .own
            .as_ref()
            .ok_or(Error::SharedServer { operation: "crash" })?;
        own.stop()
    }

    /// Starts the server again after [`PgCluster::crash`], on the same port, and waits until
    /// it accepts connections (i.e. crash recovery is done).
    pub fn start_again(&self) -> Result<(), Error> {
        let own = self.own.as_ref().ok_or(Error::SharedServer {
            operation: "start_again",
        })?;
        own.pg_ctl_start()
    }

    fn run_psql(&self, url: &str, commands: &[&str], action: &str) -> Result<String, Error> {
        let mut cmd = command(&self.psql, None, Path::new("/"));
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]);
        for sql in commands {
            cmd.arg("-c").arg(sql);
        }
        run(&mut cmd, action).map(|out| out.trim_end_matches('\n').to_owned())
    }

    fn start_own(options: &PgClusterBuilder) -> Result<PgCluster, Error> {
        let programs = Programs::server()?;
        let user = ServiceUser::if_root()?;
        reap_orphans(&programs.pg_ctl, user.as_ref());

        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(base_dir())
            .map_err(|e| Error::io("creating the cluster's temporary directory", e))?;
        let write = |path: &Path, contents: &str| {
            fs::write(path, contents)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))
        };
        let owner = process_identity("self").unwrap_or_default();
        write(&dir.path().join(OWNER_FILE), &owner)?;
        if let Some(u) = &user {
            u.chown(dir.path())?;
        }

        let password = random_token(16);
        let pwfile = dir.path().join("superuser.pw");
        write(&pwfile, &password)?;
        if let Some(u) = &user {
            u.chown(&pwfile)?;
        }
        let data_dir = dir.path().join("data");
        run(
            command(&programs.initdb, user.as_ref(), dir.path())
                .arg("-D")
                .arg(&data_dir)
                .args([
                    "-U",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .args(["-E", "UTF8", "--locale=C", "--no-sync"]),
            "initdb",
        )?;
        let _ = fs::remove_file(&pwfile);

        let conf = data_dir.join("postgresql.conf");
        let mut main_conf = fs::read_to_string(&conf)
            .map_err(|e| Error::io(format!("reading {}", conf.display()), e))?;
        main_conf.push_str(&format!("\ninclude '{SETTINGS_FILE}'\n"));
        write(&conf, &main_conf)?;

        let own = OwnServer {
            dir,
            data_dir,
            pg_ctl: programs.pg_ctl,
            user,
        };
        let log = own.dir.path().join(LOG_FILE);
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = free_port();
            let settings = settings_file(options, port, own.dir.path());
            write(&own.data_dir.join(SETTINGS_FILE), &settings)?;
            let log_start = fs::metadata(&log).map_or(0, |m| m.len());
            match own.pg_ctl_start() {
                Ok(()) => break port,
                Err(e) => {
                    let attempt_log = fs::read(&log)
                        .map(|l| {
                            String::from_utf8_lossy(l.get(log_start as usize..).unwrap_or(&[]))
                                .into_owned()
                        })
                        .unwrap_or_default();
                    if !attempt_log.contains("Address already in use") {
                        return Err(e);
                    }
                    if attempt == PORT_ATTEMPTS {
                        return Err(Error::NoFreePort {
                            attempts: attempt,
                            log: attempt_log,
                        });
                    }
                }
            }
        };

        let admin_url = format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres");
        Ok(PgCluster {
            address: ServerAddress::parse(&admin_url)?,
            admin_url,
            psql: programs.psql,
            own: Some(own),
            created: Mutex::new(Vec::new()),
        })
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        match &self.own {
            // The directory goes with `own.dir`, after this.
            Some(own) => {
                let _ = own.stop();
            }
            None => {
                let created =
                    std::mem::take(self.created.get_mut().unwrap_or_else(|p| p.into_inner()));
                for db in created {
                    let _ = self.run_psql(
                        &self.admin_url,
                        &[
                            &format!(r#"DROP DATABASE IF EXISTS "{db}" WITH (FORCE)"#),
                            &format!(r#"DROP ROLE IF EXISTS "{db}""#),
                        ],
                        "dropping test database",
                    );
                }
            }
        }
    }
}

impl OwnServer {
    fn pg_ctl_start(&self) -> Result<(), Error> {
        let log = self.dir.path().join(LOG_FILE);
        run(
            command(&self.pg_ctl, self.user.as_ref(), self.dir.path())
                .args(["start", "-w", "-t", START_TIMEOUT_SECS, "-D"])
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&log),
            "starting PostgreSQL (pg_ctl start)",
        )
        .map(drop)
        .map_err(|e| match e {
            Error::CommandFailed {
                action,
                status,
                output,
            } => Error::CommandFailed {
                action,
                status,
                output: format!(
                    "{output}\nserver log {}:\n{}",
                    log.display(),
                    tail(&log, 30)
                ),
            },
            other => other,
        })
    }

    fn stop(&self) -> Result<(), Error> {
        stop(&self.pg_ctl, self.user.as_ref(), self.dir.path())
    }
}

/// `pg_ctl stop -m immediate` for the cluster in `dir`; waits until the server has exited.
fn stop(pg_ctl: &Path, user: Option<&ServiceUser>, dir: &Path) -> Result<(), Error> {
    run(
        command(pg_ctl, user, dir)
            .args(["stop", "-m", "immediate", "-w", "-t", "60", "-D"])
            .arg(dir.join("data")),
        "stopping PostgreSQL (pg_ctl stop)",
    )
    .map(drop)
}

/// Our additions to postgresql.conf.
fn settings_file(options: &PgClusterBuilder, port: u16, socket_dir: &Path) -> String {
    let on_off = |b: bool| if b { "on" } else { "off" };
    let socket_dir = socket_dir.display().to_string().replace('\'', "''");
    let mut s = String::from("# Written by murakumo-testkit.\n");
    let _ = write!(
        s,
        "listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{socket_dir}'\n\
         max_connections = 200\n\
         shared_buffers = 16MB\n\
         fsync = {}\n\
         synchronous_commit = on\n",
        on_off(options.fsync)
    );
    for (name, value) in &options.settings {
        let _ = writeln!(s, "{name} = {value}");
    }
    s
}

/// Where cluster directories go: the temp dir, unless its path is so long that the Unix socket
/// path would pass the kernel's 107-byte limit.
fn base_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if tmp.as_os_str().len() <= 64 {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

/// Stops and deletes clusters whose test process is gone (killed by a timeout, say), once per
/// process. Best effort: errors are ignored.
fn reap_orphans(pg_ctl: &Path, user: Option<&ServiceUser>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Without /proc we cannot tell live owners from dead ones.
        if !Path::new("/proc/self").exists() {
            return;
        }
        let Ok(entries) = fs::read_dir(base_dir()) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
                continue;
            }
            let dir = entry.path();
            // No owner file yet (being created right now), or an unknown owner: leave it.
            let Ok(owner) = fs::read_to_string(dir.join(OWNER_FILE)) else {
                continue;
            };
            let Some(pid) = owner.split_whitespace().next() else {
                continue;
            };
            if process_identity(pid).as_deref() == Some(owner.as_str()) {
                continue;
            }
            if dir.join("data/postmaster.pid").exists() {
                let _ = stop(pg_ctl, user, &dir);
            }
            let _ = fs::remove_dir_all(&dir);
        }
    });
}

/// `"<pid> <start time>"` of a live (not zombie) process, from `/proc/<pid>/stat`; `None` if
/// there is no such process. The start time tells a reused pid from the original process.
fn process_identity(pid: &str) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain anything, so split after its last ')'.
    let (head, fields) = stat.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // fields[0] is the state (field 3 of stat(5)); fields[19] the start time (field 22).
    match (fields.first(), fields.get(19)) {
        (Some(&("Z" | "X")), _) | (_, None) => None,
        (_, Some(start)) => Some(format!("{pid} {start}")),
    }
}

/// The last `lines` lines of the file at `path`.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `bytes` random bytes as lowercase hex: for passwords and name suffixes, so they need no
/// quoting in SQL or URLs. Not for production secrets; std's hasher keys are random per process.
fn random_token(bytes: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(bytes * 2 + 16);
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let _ = write!(out, "{:016x}", h.finish());
    }
    out.truncate(bytes * 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_pid_0_is_not() {
        let me = process_identity("self").expect("this process is alive");
        assert!(me.starts_with(&format!("{} ", std::process::id())), "{me}");
        assert_eq!(process_identity(&std::process::id().to_string()), Some(me));
        assert_eq!(process_identity("0"), None);
    }

    #[test]
    fn tokens_are_hex_of_the_asked_length_and_differ() {
        let (a, b) = (random_token(16), random_token(16));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn settings_carry_port_socket_fsync_and_extras() {
        let options = PgCluster::builder()
            .fsync(false)
            .setting("log_statement", "'all'");
        let s = settings_file(&options, 54321, Path::new("/tmp/it's"));
        assert!(s.contains("port = 54321\n"));
        assert!(s.contains("unix_socket_directories = '/tmp/it''s'\n"));
        assert!(s.contains("fsync = off\n"));
        assert!(s.contains("synchronous_commit = on\n"));
        assert!(s.contains("log_statement = 'all'\n"));
    }

    #[test]
    fn bad_names_are_refused_before_touching_a_server() {
        // `connect` needs psql on the machine but no server; the name check comes first.
        let Ok(pg) = PgCluster::connect("postgres://u:p@127.0.0.1:1/postgres") else {
            return;
        };
        for name in ["", "Upper", "9lives", "semi;colon", &"x".repeat(41)] {
            assert!(
                matches!(pg.try_create_database(name), Err(Error::InvalidName { .. })),
                "{name:?}"
            );
        }
    }
}
